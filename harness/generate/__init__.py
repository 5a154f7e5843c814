"""What makes images: the modes of GLIDE (text-to-image, inpainting, CLIP guidance) behind one boundary."""
