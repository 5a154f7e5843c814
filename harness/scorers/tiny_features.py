"""A tiny stand-in for the FID Inception network, for smoke runs and tests: 4-d features, no weights file.

Configure it with `scorer.fid.feature_extractor=harness.scorers.tiny_features:TinyFeatures`; its FID/KID
values only compare runs scored with it, never with published Inception FIDs.
"""

from __future__ import annotations

import torch

_SEED = 1234


class TinyFeatures(torch.nn.Module):
    """Mean colour of each cell of a 2x2 grid (12 values in [0, 1]) through a fixed random projection + tanh.

    Takes uint8 images (N, 3, H, W), the contract torchmetrics states for custom FID feature extractors.
    """

    num_features = 4

    def __init__(self) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(_SEED)
        projection = torch.randn(12, self.num_features, generator=generator, dtype=torch.float64)
        self.register_buffer("projection", projection)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.dtype != torch.uint8:
            raise TypeError(f"TinyFeatures expects uint8 images, got {images.dtype}")
        cells = torch.nn.functional.adaptive_avg_pool2d(images.double() / 255.0, 2).flatten(1)
        return torch.tanh(cells @ self.projection)
