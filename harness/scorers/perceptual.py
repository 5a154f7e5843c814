"""LPIPS (Zhang et al. 2018) as the harness builds it offline: the lpips wheel's linear heads on a backbone that
is pretrained, seeded random (for random-weight models, whose images no trained network reads), or a file.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from harness.scorers.weights import (
    ALLOWED_WEIGHTS,
    require_weights_file,
    torch_hub_path,
    weights_file_problem,
    weights_only_loads,
)

if TYPE_CHECKING:
    import torch

LPIPS_NETS = ("alex", "vgg", "squeeze")
LPIPS_BACKBONES = ("auto", "pretrained", "random")
# The torchvision weights each lpips backbone loads when pretrained (lpips asks for torchvision's defaults).
TORCHVISION_WEIGHTS = {"alex": "AlexNet_Weights", "vgg": "VGG16_Weights", "squeeze": "SqueezeNet1_1_Weights"}


def lpips_option_error(where: str, net: str, backbone: str) -> str | None:
    """The one-line error of LPIPS options under `where` (fidelity, scorer.inpaint), or None when they hold."""
    if net not in LPIPS_NETS:
        return f"{where}.lpips_net: {net!r} is not one of {', '.join(LPIPS_NETS)}"
    if backbone in LPIPS_BACKBONES:
        return None
    if not Path(backbone).expanduser().is_file():
        return f"{where}.lpips_backbone: {backbone!r} is neither auto, pretrained, random nor a state-dict file"
    if problem := weights_file_problem(backbone):
        allowed = f"auto, pretrained, random or a state-dict file ({ALLOWED_WEIGHTS})"
        return f"{where}.lpips_backbone: {problem}; expected {allowed}"
    return None


def torchvision_backbone_file(net: str) -> Path:
    """Where torchvision keeps the pretrained backbone of `net` (torch hub's cache), downloaded or not."""
    import torchvision

    return torch_hub_path(getattr(torchvision.models, TORCHVISION_WEIGHTS[net]).IMAGENET1K_V1.url)


def lpips_network(net: str, backbone: str, random_weights: bool) -> torch.nn.Module:
    """LPIPS with its linear heads from the lpips wheel; the backbone pretrained (torchvision's weights, from
    $TORCH_HOME when offline), seeded random (`random`, or `auto` for random-weight models), or every weight
    from a local state-dict file (a path). No file is read in a way that could run code it carries."""
    import lpips

    if backbone == "auto":
        backbone = "random" if random_weights else "pretrained"
    # torchvision loads its pretrained backbones with weights_only=False: the file is checked first.
    source = torchvision_backbone_file(net) if backbone == "pretrained" else Path(lpips.__file__).parent / "weights"
    if backbone == "pretrained" and source.is_file():
        require_weights_file(source)
    import torch

    with torch.random.fork_rng(devices=[]), weights_only_loads(source):
        torch.manual_seed(0)
        model = lpips.LPIPS(net=net, pretrained=True, pnet_rand=backbone != "pretrained", verbose=False)
    if backbone not in ("pretrained", "random"):
        path = Path(backbone).expanduser()
        require_weights_file(path)
        with weights_only_loads(path):
            model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.eval()
