"""What makes images: the Generator boundary (harness.generate.boundary), GLIDE behind it, and GLIDE's modes
(text-to-image, inpainting) as strategies of one protocol. The built-in modes register at import."""

from harness.generate import inpaint_mode, text2im_mode  # noqa: F401
