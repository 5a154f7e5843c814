"""A native implementation of the released GLIDE models (64px base and 64->256px upsampler).

It loads the official checkpoint files unchanged and reproduces the official float32 numerics.
"""
