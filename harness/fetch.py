"""Pre-fetch every weight file a run needs (GLIDE, CLIP, Inception) for machines without network.

Each artefact lands where its loader looks for it: the GLIDE cache, open_clip's cache, torch hub's cache.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from omegaconf import OmegaConf

from harness.glide.checkpoints import (
    MODES,
    OFFICIAL_BASE_URL,
    CheckpointError,
    checkpoint_info,
    checkpoints_of_mode,
    default_cache_dir,
    download_file,
    resolve_checkpoint,
)
from harness.glide.tokenizer import GPT2_VOCAB_URL, TokenizerError, load_encoding, tiktoken_cache_dir
from harness.locations import CONF_DIR

ARTEFACT_KINDS = ("glide", "tokenizer", "clip", "inception")
CLIP_CONFIG = CONF_DIR / "scorer" / "clip.yaml"
FALLBACK_CLIP = ("ViT-L-14", "openai")
HF_HUB_PREFIX = "hf-hub:"

# (open_clip model, pretrained tag); the tag is None for an hf-hub:ORG/REPO model, whose repo holds both.
ClipWeights = tuple[str, str | None]


@dataclass(frozen=True)
class FetchPlan:
    """What to fetch and from where."""

    cache_dir: Path | None
    glide_base_url: str
    clip: tuple[ClipWeights, ...]
    kinds: tuple[str, ...]
    modes: tuple[str, ...] = ("text2im",)  # which GLIDE modes' checkpoints (checkpoints.MODES)


@dataclass(frozen=True)
class Fetched:
    """One artefact on disk, for the summary line."""

    label: str
    path: Path
    state: str  # "downloaded", "cached", or "ready" where the loader does not say which


@dataclass(frozen=True)
class Target:
    """One artefact of a plan: where it comes from and where its loader will look for it."""

    label: str
    source: str
    destination: Path


def clip_spec(text: str) -> ClipWeights:
    """Parse MODEL:PRETRAINED (an open_clip model name and pretrained tag) or hf-hub:ORG/REPO."""
    if text.startswith(HF_HUB_PREFIX):
        if "/" not in text.removeprefix(HF_HUB_PREFIX).strip("/"):
            raise argparse.ArgumentTypeError(f"expected hf-hub:ORG/REPO, got {text!r}")
        return text, None
    model, sep, pretrained = text.partition(":")
    if not (sep and model and pretrained):
        raise argparse.ArgumentTypeError(
            f"expected MODEL:PRETRAINED (e.g. ViT-L-14:openai) or hf-hub:ORG/REPO, got {text!r}"
        )
    return model, pretrained


def clip_label(weights: ClipWeights) -> str:
    model, pretrained = weights
    return model if pretrained is None else f"{model}:{pretrained}"


def configured_clip(config_file: Path = CLIP_CONFIG) -> tuple[ClipWeights, ...]:
    """The CLIP weights `scorer.clip` names, when they come from a download (none for local or random ones)."""
    if not config_file.is_file():
        return (FALLBACK_CLIP,)
    cfg = OmegaConf.load(config_file)
    model, pretrained = str(cfg.model), cfg.get("pretrained")
    if model.startswith(HF_HUB_PREFIX):
        return ((model, None),)
    # local-dir: models, local weight files and random initialisation (null) need nothing fetched.
    if pretrained is None or model.startswith("local-dir:") or Path(str(pretrained)).is_file():
        return ()
    return ((model, str(pretrained)),)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m harness.fetch",
        description="Download the GLIDE, CLIP and Inception weights a run needs, for later offline use.",
    )
    parser.add_argument(
        "--cache-dir", type=Path, help="GLIDE checkpoint folder (default: $GLIDE_CACHE or the user cache)"
    )
    parser.add_argument("--glide-base-url", default=OFFICIAL_BASE_URL, help="URL prefix of the GLIDE files (a mirror)")
    parser.add_argument(
        "--clip",
        type=clip_spec,
        action="append",
        metavar="MODEL:PRETRAINED",
        help="open_clip weights to fetch (or hf-hub:ORG/REPO); repeat for several "
        "(default: the model and pretrained tag of conf/scorer/clip.yaml)",
    )
    parser.add_argument(
        "--modes",
        type=glide_modes,
        default=("text2im",),
        metavar="MODE[,MODE]",
        help=f"GLIDE modes whose checkpoints to fetch: {', '.join(MODES)} or all "
        "(default: text2im; clip is the noised CLIP of sampler.guidance=clip, inpaint the inpainting pair)",
    )
    parser.add_argument("--no-inception", action="store_true", help="skip the Inception weights of FID")
    parser.add_argument("--only", choices=ARTEFACT_KINDS, help="fetch only this kind of artefact")
    parser.add_argument(
        "--dry-run", action="store_true", help="print each artefact's source and destination; fetch nothing"
    )
    return parser


def parse_args(argv: Sequence[str] | None = None) -> tuple[FetchPlan, bool]:
    """The plan the command line asks for, and whether it is a dry run."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.only == "inception" and args.no_inception:
        parser.error("--only inception contradicts --no-inception")
    if args.only:
        kinds = (args.only,)
    elif args.no_inception:
        kinds = ("glide", "tokenizer", "clip")
    else:
        kinds = ARTEFACT_KINDS
    clip = tuple(args.clip) if args.clip else configured_clip()
    if "clip" in kinds:
        unknown = [clip_label(w) for w in clip if w[1] is not None and not clip_pretrained_cfg(*w)]
        if unknown:
            parser.error(
                f"unknown open_clip weights {', '.join(unknown)}; "
                "open_clip.list_pretrained() lists the known MODEL:PRETRAINED pairs"
            )
    return FetchPlan(args.cache_dir, args.glide_base_url, clip, kinds, args.modes), args.dry_run


def glide_modes(text: str) -> tuple[str, ...]:
    """`--modes` as a tuple of checkpoints.MODES, in release order; `all` is every mode."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    if names == ["all"]:
        return MODES
    unknown = [name for name in names if name not in MODES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown GLIDE mode {text!r}; allowed: {', '.join(MODES)} or all")
    return tuple(mode for mode in MODES if mode in names)


def clip_pretrained_cfg(model: str, pretrained: str) -> dict:
    """open_clip's registry entry for the weights (empty when unknown)."""
    # open_clip is imported here so that fetching GLIDE alone stays quick.
    import open_clip

    return open_clip.pretrained.get_pretrained_cfg(model, pretrained)


def glide_checkpoints(modes: Sequence[str]) -> list[str]:
    """The released checkpoint names of `modes`, in release order."""
    return [name for mode in modes for name in checkpoints_of_mode(mode)]


def glide_targets(cache_dir: Path | None, base_url: str, modes: Sequence[str] = ("text2im",)) -> list[Target]:
    folder = cache_dir if cache_dir is not None else default_cache_dir()
    infos = [checkpoint_info(name) for name in glide_checkpoints(modes)]
    return [Target(f"GLIDE {info.name}", info.url(base_url), folder / info.filename) for info in infos]


def fetch_glide(cache_dir: Path | None, base_url: str, modes: Sequence[str] = ("text2im",)) -> Iterator[Fetched]:
    names = glide_checkpoints(modes)
    for target, name in zip(glide_targets(cache_dir, base_url, modes), names, strict=True):
        state = "cached" if target.destination.is_file() else "downloaded"
        path = resolve_checkpoint(name, cache_dir=target.destination.parent, base_url=base_url)
        yield Fetched(target.label, path, state)


def clip_target(weights: ClipWeights) -> Target:
    """Where open_clip's `create_model` looks for the weights: the Hugging Face cache or ~/.cache/clip."""
    from huggingface_hub.constants import HF_HUB_CACHE

    model, pretrained = weights
    label = f"CLIP {clip_label(weights)}"
    if pretrained is None:
        repo = model.removeprefix(HF_HUB_PREFIX).strip("/")
    else:
        cfg = clip_pretrained_cfg(model, pretrained)
        if not cfg.get("hf_hub"):
            url = cfg["url"]
            return Target(label, url, Path("~/.cache/clip").expanduser() / url.rsplit("/", 1)[-1])
        # open_clip's hf_hub entries are ORG/REPO/ or ORG/REPO/FILENAME.
        repo = "/".join(cfg["hf_hub"].split("/")[:2])
    return Target(label, f"https://huggingface.co/{repo}", Path(HF_HUB_CACHE) / ("models--" + repo.replace("/", "--")))


def fetch_clip(weights: ClipWeights) -> Fetched:
    """Download through open_clip's own functions, into the cache `create_model` reads by default."""
    import open_clip

    model, pretrained = weights
    try:
        if pretrained is None:
            repo = model.removeprefix(HF_HUB_PREFIX).strip("/")
            open_clip.pretrained.download_pretrained_from_hf(repo, filename="open_clip_config.json")
            path = Path(open_clip.pretrained.download_pretrained_from_hf(repo))
        else:
            path = Path(open_clip.pretrained.download_pretrained(clip_pretrained_cfg(model, pretrained)))
    except Exception as err:  # open_clip wraps network failures in several exception types
        reason = " ".join(str(err).split())
        raise CheckpointError(
            f"Could not download the CLIP weights {clip_label(weights)} from {clip_target(weights).source} "
            f"({reason}). Run `python -m harness.fetch` on a machine with network access and copy its "
            "Hugging Face cache ($HF_HOME, by default ~/.cache/huggingface) and ~/.cache/clip over."
        ) from err
    return Fetched(f"CLIP {clip_label(weights)}", path, "ready")


def tokenizer_target() -> Target:
    """The GPT-2 BPE vocabulary the GLIDE tokenizer reads (tiktoken's `gpt2`), in its cache dir."""
    return Target("GLIDE tokenizer (gpt2 BPE)", GPT2_VOCAB_URL, tiktoken_cache_dir())


def fetch_tokenizer() -> Fetched:
    target = tokenizer_target()
    try:
        load_encoding("gpt2")
    except TokenizerError as err:
        raise CheckpointError(str(err)) from err
    return Fetched(target.label, target.destination, "ready")


def inception_target() -> Target:
    """The FID Inception weights: torch-fidelity's URL and the torch hub file it loads them from."""
    import torch
    from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3

    filename = URL_INCEPTION_V3.rsplit("/", 1)[-1]
    return Target("Inception (FID)", URL_INCEPTION_V3, Path(torch.hub.get_dir()) / "checkpoints" / filename)


def fetch_inception() -> Fetched:
    target = inception_target()
    if target.destination.is_file():
        return Fetched(target.label, target.destination, "cached")
    download_file(target.source, target.destination)
    return Fetched(target.label, target.destination, "downloaded")


def targets(plan: FetchPlan) -> list[Target]:
    """Every artefact of `plan`, without touching the network."""
    found = glide_targets(plan.cache_dir, plan.glide_base_url, plan.modes) if "glide" in plan.kinds else []
    if "tokenizer" in plan.kinds:
        found.append(tokenizer_target())
    if "clip" in plan.kinds:
        found += [clip_target(weights) for weights in plan.clip]
    if "inception" in plan.kinds:
        found.append(inception_target())
    return found


def fetch(plan: FetchPlan) -> Iterator[Fetched]:
    """Fetch every artefact of `plan` in turn, yielding each as it lands; a failure stops the rest."""
    if "glide" in plan.kinds:
        yield from fetch_glide(plan.cache_dir, plan.glide_base_url, plan.modes)
    if "tokenizer" in plan.kinds:
        yield fetch_tokenizer()
    if "clip" in plan.kinds:
        for weights in plan.clip:
            yield fetch_clip(weights)
    if "inception" in plan.kinds:
        yield fetch_inception()


def summary_line(item: Fetched) -> str:
    size_mib = item.path.stat().st_size / 2**20
    return f"{item.label:<28} {item.state:<10} {size_mib:>9.1f} MiB  {item.path}"


def plan_line(target: Target) -> str:
    return f"{target.label:<28} {target.source} -> {target.destination}"


def main(argv: Sequence[str] | None = None) -> int:
    plan, dry_run = parse_args(argv)
    if dry_run:
        for target in targets(plan):
            print(plan_line(target))
        return 0
    # Only this package's records: the libraries called here log (and retry) through their own handlers.
    package_log = logging.getLogger("harness")
    if not package_log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        package_log.addHandler(handler)
        package_log.setLevel(logging.INFO)
    try:
        for item in fetch(plan):
            print(summary_line(item))
    except CheckpointError as err:
        # The harness's exit code for what the user or the machine can fix (no network, a bad mirror URL).
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
