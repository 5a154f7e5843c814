"""Pre-fetch every weight file a run needs (GLIDE, CLIP, Inception) for machines without network.

What a run needs is read from its typed config (the command's overrides, composed as the run composes them);
each artefact lands where its loader looks for it: the GLIDE cache, open_clip's cache, torch hub's cache.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.cli.preflight import mode_model
from harness.config.compose import COMPOSITION_ERRORS, describe, job_config, typed_job, unknown_keys
from harness.config.schema import RunConfig
from harness.errors import ConfigError, error_line
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
from harness.glide.guidance import GUIDANCE
from harness.glide.presets import preset
from harness.glide.spec import ModelSpec
from harness.glide.tokenizer import GPT2_VOCAB_URL, TokenizerError, load_encoding, tiktoken_cache_dir
from harness.scorers.configs import HARNESS_WEIGHTS_DIR, harness_pretrained_tag, open_clip_registry

ARTEFACT_KINDS = ("glide", "tokenizer", "clip", "inception")
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


def clip_download(model: str, pretrained: str | None) -> tuple[ClipWeights, ...]:
    """The weights open_clip's `create_model(model, pretrained)` downloads: none for random initialisation (null),
    local-dir: models, local weight files and the harness's own weights, which ship in the package."""
    if model.startswith(HF_HUB_PREFIX):
        return ((model, None),)
    if pretrained is None or model.startswith("local-dir:") or Path(pretrained).is_file():
        return ()
    # The harness's own tags name files in the package; read from their names, so open_clip is not imported.
    if any(harness_pretrained_tag(path) == (model, pretrained) for path in HARNESS_WEIGHTS_DIR.glob("*.safetensors")):
        return ()
    return ((model, pretrained),)


@dataclass(frozen=True)
class Needs:
    """What a run of a typed config loads that may come from a download."""

    kinds: tuple[str, ...]
    modes: tuple[str, ...]
    clip: tuple[ClipWeights, ...]
    cache_dir: Path | None


def glide_needs(model: ModelSpec, guidance: str) -> tuple[str, ...]:
    """The GLIDE modes whose released checkpoints `model` loads (none for random weights or the toy world):
    its own pair's, the text-to-image pair's for generated inpainting sources, the noised CLIP for a guide."""
    if model.weights != "official":
        return ()
    modes = set()
    if not (model.base_path and model.upsample_path):
        modes.add("inpaint" if preset(model.base).inpaint else "text2im")
    source = model.source
    if source is not None and source.weights == "official" and not (source.base_path and source.upsample_path):
        modes.add("text2im")
    if GUIDANCE[guidance].needs_guide and not (model.clip_image_path and model.clip_text_path):
        modes.add("clip")
    return tuple(mode for mode in MODES if mode in modes)


def config_needs(rc: RunConfig) -> Needs:
    """What `rc` needs fetched: GLIDE's checkpoints and tokenizer, the CLIP of `scorer.clip` and, when the fid
    scorer runs, the Inception weights and the CLIP of its CMMD."""
    modes = glide_needs(rc.model, rc.sampler.guidance)
    models = [] if rc.model.toy else [rc.model.base, *([rc.model.source.base] if rc.model.source else [])]
    clip = clip_download(rc.scorer.clip.model, rc.scorer.clip.pretrained)
    fid = rc.scorer.fid if "fid" in rc.scorers else None
    if fid is not None:
        clip += tuple(w for w in clip_download(fid.cmmd.model, fid.cmmd.pretrained) if w not in clip)
    needed = {
        "glide": bool(modes),
        "tokenizer": any(preset(name).tokenizer == "gpt2" for name in models),
        "clip": bool(clip),
        "inception": fid is not None and fid.feature_extractor == "inception" and fid.inception_weights is None,
    }
    cache_dir = Path(rc.model.cache_dir) if rc.model.cache_dir else None
    return Needs(tuple(kind for kind in ARTEFACT_KINDS if needed[kind]), modes, clip, cache_dir)


def command_config(overrides: Sequence[str]) -> RunConfig:
    """The typed config of `python -m harness OVERRIDES`, with the model that runs (an inpainting suite's
    pair); a suite is not needed, as it names no weights. A bad override raises ConfigError with one line."""
    overrides, _ = mode_model(overrides)
    try:
        if error := unknown_keys(job_config(overrides)):
            raise ConfigError(error)
        return typed_job(overrides)
    except COMPOSITION_ERRORS as err:
        raise ConfigError(describe(err)) from err


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m harness.fetch",
        description="Download the GLIDE, CLIP and Inception weights a run needs, for later offline use. What the "
        "run needs is read from its config: give the run's overrides (e.g. +suite=bias model=tiny); the flags "
        "below override what the config says.",
    )
    parser.add_argument(
        "overrides",
        nargs="*",
        metavar="KEY=VALUE",
        help="the run's Hydra overrides, as given to python -m harness (none: the default config)",
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        help="GLIDE checkpoint folder (default: the config's model.cache_dir, else $GLIDE_CACHE or the user cache)",
    )
    parser.add_argument("--glide-base-url", default=OFFICIAL_BASE_URL, help="URL prefix of the GLIDE files (a mirror)")
    parser.add_argument(
        "--clip",
        type=clip_spec,
        action="append",
        metavar="MODEL:PRETRAINED",
        help="open_clip weights to fetch (or hf-hub:ORG/REPO); repeat for several "
        "(default: the config's scorer.clip model and pretrained tag, and with the fid scorer scorer.fid.cmmd's)",
    )
    parser.add_argument(
        "--modes",
        type=glide_modes,
        metavar="MODE[,MODE]",
        help=f"GLIDE modes whose checkpoints to fetch: {', '.join(MODES)} or all (default: the config's: the "
        "model's pair, text2im or inpaint, and clip, the noised CLIP, under sampler.guidance=clip)",
    )
    parser.add_argument("--no-inception", action="store_true", help="skip the Inception weights of FID")
    parser.add_argument(
        "--only",
        choices=ARTEFACT_KINDS,
        help="fetch only this kind of artefact, whether the config needs it or not "
        "(default: each kind the config needs; inception when scorers has fid)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print each artefact's source and destination; fetch nothing"
    )
    return parser


def parse_args(argv: Sequence[str] | None = None) -> tuple[FetchPlan, bool]:
    """The plan the command line asks for, and whether it is a dry run. A bad override exits 2 with one line."""
    parser = build_parser()
    args = parser.parse_intermixed_args(argv)  # overrides before and after the flags
    if args.only == "inception" and args.no_inception:
        parser.error("--only inception contradicts --no-inception")
    try:
        needs = config_needs(command_config(args.overrides))
    except ConfigError as err:
        parser.exit(2, f"error: {error_line(err)}\n")
    # A flag naming what to fetch wins over the config: --only a kind, --modes GLIDE's, --clip the weights.
    if args.only:
        kinds = (args.only,)
    else:
        named = {"glide": args.modes is not None, "clip": args.clip is not None}
        kinds = tuple(kind for kind in ARTEFACT_KINDS if kind in needs.kinds or named.get(kind))
    if args.no_inception:
        kinds = tuple(kind for kind in kinds if kind != "inception")
    clip = tuple(args.clip) if args.clip else needs.clip
    modes = args.modes if args.modes is not None else needs.modes or ("text2im",)
    cache_dir = args.cache_dir if args.cache_dir is not None else needs.cache_dir
    if "clip" in kinds:
        unknown = [clip_label(w) for w in clip if w[1] is not None and not clip_pretrained_cfg(*w)]
        if unknown:
            parser.error(
                f"unknown open_clip weights {', '.join(unknown)}; "
                "open_clip.list_pretrained() lists the known MODEL:PRETRAINED pairs"
            )
    return FetchPlan(cache_dir, args.glide_base_url, clip, kinds, modes), args.dry_run


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
    """open_clip's registry entry for the weights, the harness's own among them (empty when unknown)."""
    # open_clip is imported on first use so that fetching GLIDE alone stays quick.
    return open_clip_registry().pretrained.get_pretrained_cfg(model, pretrained)


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
    if not targets(plan):
        print("nothing to fetch: this config loads no downloaded weights (random, local or shipped ones)")
        return 0
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
