"""What makes images: the Generator boundary (harness.generate.protocol), GLIDE behind it, and GLIDE's modes
(text-to-image, inpainting) as strategies of one protocol. The built-in modes register at import."""

from harness.generate import inpaint, text2im  # noqa: F401
