"""glide-eval: measured, repeatable experiments on OpenAI's released GLIDE text-to-image models.

Hydra composes a run; the runner samples a suite with GLIDE; scorers and trackers turn the samples into numbers.
"""

__version__ = "0.1.0"
