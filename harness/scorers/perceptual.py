"""LPIPS (Zhang et al. 2018) as the harness builds it offline: the lpips wheel's linear heads on a backbone that
is pretrained, seeded random (for random-weight models, whose images no trained network reads), or a file.
"""

from __future__ import annotations

from pathlib import Path

import torch

LPIPS_NETS = ("alex", "vgg", "squeeze")
LPIPS_BACKBONES = ("auto", "pretrained", "random")


def lpips_option_error(where: str, net: str, backbone: str) -> str | None:
    """The one-line error of LPIPS options under `where` (fidelity, scorer.inpaint), or None when they hold."""
    if net not in LPIPS_NETS:
        return f"{where}.lpips_net: {net!r} is not one of {', '.join(LPIPS_NETS)}"
    if backbone not in LPIPS_BACKBONES and not Path(backbone).expanduser().is_file():
        return f"{where}.lpips_backbone: {backbone!r} is neither auto, pretrained, random nor a state-dict file"
    return None


def lpips_network(net: str, backbone: str, random_weights: bool) -> torch.nn.Module:
    """LPIPS with its linear heads from the lpips wheel; the backbone pretrained (torchvision's weights, from
    $TORCH_HOME when offline), seeded random (`random`, or `auto` for random-weight models), or every weight
    from a local state-dict file (a path)."""
    import lpips

    if backbone == "auto":
        backbone = "random" if random_weights else "pretrained"
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = lpips.LPIPS(net=net, pretrained=True, pnet_rand=backbone != "pretrained", verbose=False)
    if backbone not in ("pretrained", "random"):
        model.load_state_dict(torch.load(backbone, map_location="cpu", weights_only=True))
    return model.eval()
