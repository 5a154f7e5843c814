"""The toy CLIP: an open_clip model (harness-toy-clip) trained on the toy world, so that model=toy's probes read it.

python -m harness.toy.toy_clip train --out DIR renders the world (64 px and 256 px, failure modes at the default
rates), captions every image from its truth record (never from its prompt), trains with the symmetric
contrastive loss and writes toy-clip-<sha256[:16]>.safetensors. `gate` measures zero-shot accuracy on fresh
seeds through the harness's own probe, judged by the truth record.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

from harness.config.schema import SampleParams
from harness.locations import CONF_DIR
from harness.scorers.taxonomy import TAXONOMY_DIR, Taxonomy, load_taxonomy
from harness.toy.generator import render
from harness.toy.vocabulary import AMBIGUOUS_RELIGIOUS, NOUNS, STYLES
from harness.toy.world import World

ARCHITECTURE = "harness-toy-clip"
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
SUITE_DIR = CONF_DIR / "suite"
SUITES = ("bias", "couch", "hyperparams", "novel", "seed_study", "styles")
# Gate samples use seeds from here up; training draws seeds below it, so no gate image was seen in training.
GATE_SEED0 = 1_000_000
GATE_THRESHOLD = 0.85
STYLE_SUBJECTS = ("corgi", "waterfall", "house", "church", "polar bear", "lake", "cat", "ship")
OTHER_NOUNS = ("house", "castle", "landscape")  # the world's nouns in the bias taxonomy's `other` class
GATE_GUIDANCE = 3.0


def _taxonomy(name: str) -> Taxonomy:
    return load_taxonomy(name, f"toy clip {name}", TAXONOMY_DIR)


def _article(phrase: str) -> str:
    if phrase.split(" ", 1)[0] in {"a", "an", "the"} or phrase in {"pixel art", "oil on canvas"}:
        return phrase
    return f"an {phrase}" if phrase[0] in "aeiou8" else f"a {phrase}"


@dataclass(frozen=True)
class Vocabulary:
    """The phrasings a caption may use: each religious class's and each style's names (taxonomy and world)."""

    religious: dict[str, tuple[str, ...]]
    religious_templates: tuple[str, ...]
    styles: dict[str, tuple[str, ...]]
    style_templates: tuple[str, ...]

    @classmethod
    def of_taxonomies(cls) -> Vocabulary:
        bias, style = _taxonomy("religious_building"), _taxonomy("art_style")
        religious = {}
        for c in bias.classes:
            if c.id == "other":
                continue
            world = [noun for noun, n in NOUNS.items() if n.cls == c.id]
            religious[c.id] = tuple(dict.fromkeys([*c.names, *world]))
        styles = {}
        for c in style.classes:
            world = [_article(phrase) for phrase, s in STYLES.items() if s == c.id]
            styles[c.id] = tuple(dict.fromkeys([*c.names, *world]))
        return cls(religious, bias.templates, styles, style.templates)


def training_prompts(vocab: Vocabulary) -> dict[str, list[str]]:
    """What the training renders ask for, by kind; every kind is drawn equally often."""
    religious = [_article(noun) for noun, n in NOUNS.items() if n.cls]
    others = [_article(noun) for noun, n in NOUNS.items() if not n.cls]
    suites = []
    for name in SUITES:
        data = yaml.safe_load((SUITE_DIR / f"{name}.yaml").read_text(encoding="utf-8"))
        suites += [p["text"] for p in data.get("prompts", []) if isinstance(p, dict) and "text" in p]
    subjects = [*STYLE_SUBJECTS, *(noun for noun, n in NOUNS.items() if n.cls)]
    styled = [f"{s} of {_article(noun)}" for names in vocab.styles.values() for s in names for noun in subjects]
    styled += [s for names in vocab.styles.values() for s in names]
    return {
        "religious": religious,
        "ambiguous": [_article(p) for p in AMBIGUOUS_RELIGIOUS],
        "styled": styled,
        "scenes": sorted({*others, *suites}),
        # The bias taxonomy's `other` class would otherwise be a few percent of the scenes, too rare to learn.
        "other": [_article(noun) for noun in OTHER_NOUNS],
    }


def _subject(item: dict, vocab: Vocabulary, rng: np.random.Generator) -> str:
    if item["cls"] in vocab.religious:
        names = vocab.religious[item["cls"]]
        return _article(names[rng.integers(len(names))])
    return _article(item["drawn"])


def caption(record: dict, vocab: Vocabulary, rng: np.random.Generator) -> str:
    """A caption of what the truth record says was drawn: the drawn classes in one of their phrasings, the style
    drawn; the prompt itself only where everything came out as asked."""
    items = [i for i in record["items"] if i["drawn"] is not None and not i["drawn"].startswith("?")]
    style = record["style_drawn"]
    as_asked = all(i["status"] == "drawn" for i in record["items"]) and record["style_failure"] is None
    if len(items) >= 2 and as_asked and rng.random() < 0.5:
        return record["prompt"]
    subject = " and ".join(_subject(i, vocab, rng) for i in items) if items else "an empty field"
    if style == "plain":
        templates = vocab.religious_templates
        return templates[rng.integers(len(templates))].format(subject.removeprefix("a ").removeprefix("an "))
    names = vocab.styles[style]
    name = names[rng.integers(len(names))]
    if rng.random() < 0.3:
        templates = vocab.style_templates
        return templates[rng.integers(len(templates))].format(name)
    return f"{name} of {subject}"


@dataclass
class RenderedSet:
    """Rendered training or gate samples: preprocessed images (n, 3, H, W) and the truth record of each."""

    pixels: np.ndarray
    records: list[dict]


def _params(rng: np.random.Generator) -> SampleParams:
    guidance_scale = float(rng.uniform(1.0, 5.0))
    upsample_temp = float(rng.uniform(0.98, 1.0))
    return SampleParams(guidance="classifier_free", guidance_scale=guidance_scale, upsample_temp=upsample_temp)


def render_training_set(samples: int, seed: int, preprocess, world: World | None = None) -> RenderedSet:
    """`samples` renders of prompts drawn kind-balanced; each gives two images (its 64 px base, its 256 px)."""
    import torch

    world = world or World()
    rng = np.random.default_rng(seed)
    kinds = training_prompts(Vocabulary.of_taxonomies())
    names = sorted(kinds)
    pixels, records = [], []
    for _ in range(samples):
        pool = kinds[names[rng.integers(len(names))]]
        prompt = pool[rng.integers(len(pool))]
        small, large, record = render(prompt, int(rng.integers(GATE_SEED0)), _params(rng), world)
        for image in (small, large):
            pixels.append(preprocess(Image.fromarray(image)).to(torch.float16).numpy())
            records.append(record)
    return RenderedSet(np.stack(pixels), records)


def build_model(seed: int):
    """(model, preprocess, tokenizer) of the toy architecture, its initial weights drawn from `seed`."""
    import torch

    from harness.scorers.configs import open_clip_registry

    open_clip = open_clip_registry()
    torch.manual_seed(seed)
    model, _, preprocess = open_clip.create_model_and_transforms(ARCHITECTURE)
    return model, preprocess, open_clip.get_tokenizer(ARCHITECTURE)


def contrastive_loss(image_features, text_features, logit_scale, captions: Sequence[str]):
    """Symmetric InfoNCE over the batch's distinct captions: an image's positive is its caption; a caption's
    positives are all the images it captions (a batch repeats captions, and a repeat is no negative)."""
    import torch
    import torch.nn.functional as F

    distinct = list(dict.fromkeys(captions))
    index = torch.tensor([distinct.index(c) for c in captions])
    first = torch.tensor([captions.index(c) for c in distinct])
    texts = F.normalize(text_features[first], dim=-1)
    images = F.normalize(image_features, dim=-1)
    logits = logit_scale * images @ texts.T  # (images, distinct captions)
    image_loss = F.cross_entropy(logits, index)
    owners = (index[None, :] == torch.arange(len(distinct))[:, None]).float()
    text_loss = -(owners / owners.sum(1, keepdim=True) * F.log_softmax(logits.T, dim=1)).sum(1).mean()
    return (image_loss + text_loss) / 2


def train(
    data: RenderedSet, model, tokenizer, *, steps: int, seed: int, batch: int = 128, lr: float = 1e-3, log=None
) -> list[float]:
    """AdamW with a cosine schedule; captions drawn afresh from the truth at every step. Returns the losses."""
    import torch

    vocab = Vocabulary.of_taxonomies()
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "embedding" not in n]
    rest = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "embedding" not in n)]
    optimiser = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": rest, "weight_decay": 0.0}], lr)
    warmup = max(1, steps // 20)

    def rate(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))

    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, rate)
    model.train()
    losses = []
    for step in range(steps):
        rows = rng.choice(len(data.records), size=min(batch, len(data.records)), replace=False)
        captions = [caption(data.records[r], vocab, rng) for r in rows]
        images = torch.from_numpy(data.pixels[rows]).float()
        image_features, text_features, logit_scale = model(images, tokenizer(captions))
        loss = contrastive_loss(image_features, text_features, logit_scale, captions)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100))
        losses.append(loss.item())
        if log is not None and (step % 25 == 0 or step == steps - 1):
            log(step, losses[-1])
    return losses


def save_weights(model, out: Path) -> Path:
    """Writes the state dict as safetensors, named by its SHA-256: toy-clip-<sha256[:16]>.safetensors."""
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    staging = out / "toy-clip.partial.safetensors"
    save_file(state, str(staging), metadata={"architecture": ARCHITECTURE})
    digest = hashlib.sha256(staging.read_bytes()).hexdigest()
    path = out / f"toy-clip-{digest[:16]}.safetensors"
    staging.replace(path)
    return path


# --- the gate: zero-shot accuracy on fresh seeds through the harness's probe, judged by the truth record ---


def gate_prompts(taxonomy: str) -> list[tuple[str, str | None]]:
    """(prompt, the truth class if the prompt is drawn as asked) of one taxonomy's gate; the truth decides."""
    if taxonomy == "religious_building":
        controls = [(_article(n.replace("_", " ")), None) for n in Vocabulary.of_taxonomies().religious]
        return [*controls, ("a religious building", None), *((_article(n), "other") for n in OTHER_NOUNS)]
    styled = [(f"{s} of {_article(subject)}", None) for s in _style_names() for subject in ("corgi", "house")]
    return [*styled, *((s, None) for s in _style_names())]


def _style_names() -> list[str]:
    return [c.names[0] for c in _taxonomy("art_style").classes]


def truth_class(record: dict, taxonomy: str) -> str | None:
    """The class a taxonomy's gate judges an image by, from its truth record (None: not an image of the class)."""
    if taxonomy == "art_style":
        return None if record["style_drawn"] == "plain" else record["style_drawn"]
    drawn = [i for i in record["items"] if i["drawn"] is not None]
    if len(drawn) != 1:
        return None
    return drawn[0]["cls"] or ("other" if drawn[0]["drawn"] in OTHER_NOUNS else None)


@dataclass(frozen=True)
class GateResult:
    """A taxonomy's zero-shot accuracy on fresh samples, by the truth record, and its confusion matrix."""

    taxonomy: str
    classes: tuple[str, ...]
    confusion: np.ndarray  # (truth, predicted) counts

    @property
    def n(self) -> int:
        return int(self.confusion.sum())

    @property
    def accuracy(self) -> float:
        return float(np.trace(self.confusion) / self.n)


def gate(weights: Path, taxonomy: str, per_prompt: int, world: World | None = None) -> GateResult:
    """Renders `per_prompt` fresh seeds of each gate prompt at 256 px and classifies them with the bias/style
    scorers' probe (ZeroShotProbe: the taxonomy's templates x class names); samples whose truth has no class of
    the taxonomy (a missing subject) are left out."""
    import pandas as pd

    from harness.scorers.clip_encoder import ClipEncoder
    from harness.scorers.configs import ClipConfig
    from harness.scorers.probe import ZeroShotProbe

    world = world or World()
    tax = _taxonomy(taxonomy)
    params = SampleParams(guidance="classifier_free", guidance_scale=GATE_GUIDANCE, upsample_temp=0.997)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for p, (prompt, _) in enumerate(gate_prompts(taxonomy)):
            for k in range(per_prompt):
                _, large, record = render(prompt, GATE_SEED0 + k, params, world)
                truth = truth_class(record, taxonomy)
                if truth is None:
                    continue
                path = Path(tmp) / f"{p}-{k}.png"
                Image.fromarray(large).save(path)
                rows.append({"path_256": str(path), "key": f"{p}-{k}", "truth": truth})
        samples = pd.DataFrame(rows)
        encoder = ClipEncoder(ClipConfig(model=ARCHITECTURE, pretrained=str(weights)), cache_dir=None, device="cpu")
        predicted = ZeroShotProbe(tax, encoder).probabilities(samples).argmax(axis=1)
    ids = tax.class_ids
    confusion = np.zeros((len(ids), len(ids)), dtype=int)
    for truth, guess in zip(samples["truth"], predicted, strict=True):
        confusion[ids.index(truth), guess] += 1
    return GateResult(taxonomy, ids, confusion)


def confusion_figure(results: Sequence[GateResult], path: Path) -> None:
    """One confusion matrix per taxonomy (rows: the truth, columns: the probe's class), row-normalised."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(5.2 * len(results), 4.6))
    for ax, result in zip(np.atleast_1d(axes), results, strict=True):
        rates = result.confusion / np.maximum(result.confusion.sum(axis=1, keepdims=True), 1)
        ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
        ticks = range(len(result.classes))
        ax.set_xticks(ticks, result.classes, rotation=60, ha="right", fontsize=7)
        ax.set_yticks(ticks, result.classes, fontsize=7)
        ax.set_xlabel("probe's class")
        ax.set_ylabel("drawn (truth record)")
        ax.set_title(f"{result.taxonomy}: {result.accuracy:.1%} of {result.n}", fontsize=9)
        for (i, j), count in np.ndenumerate(result.confusion):
            if count:
                ax.text(j, i, str(count), ha="center", va="center", fontsize=6, color="k" if rates[i, j] < 0.6 else "w")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def _report(results: Sequence[GateResult]) -> int:
    for r in results:
        verdict = "passes" if r.accuracy >= GATE_THRESHOLD else "FAILS"
        print(f"gate {r.taxonomy}: {r.accuracy:.3f} of {r.n} ({verdict}, threshold {GATE_THRESHOLD})")
    return 0 if all(r.accuracy >= GATE_THRESHOLD for r in results) else 1


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer >= 1")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m harness.toy.toy_clip",
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    training = commands.add_parser("train", help="render the world, train, write the weights, run the gate")
    training.add_argument("--out", type=Path, required=True, help="folder for the weights file")
    training.add_argument("--steps", type=_positive, default=700, help="optimiser steps (700)")
    training.add_argument("--samples", type=_positive, default=3000, help="renders, two images each (3000)")
    training.add_argument("--seed", type=int, default=0, help="seeds the renders, the weights and the captions")
    training.add_argument("--figure", type=Path, help="write the gate's confusion matrices to this PNG")
    checking = commands.add_parser("gate", help="zero-shot accuracy of a weights file on fresh seeds")
    checking.add_argument("weights", type=Path, help="a toy-clip-*.safetensors file")
    checking.add_argument("--per-prompt", type=_positive, default=40, help="fresh seeds per gate prompt (40)")
    checking.add_argument("--figure", type=Path, help="write the confusion matrices to this PNG")
    # The top-level --help shows each command's options too, so one page lists everything the module accepts.
    parser.epilog = "".join(sub.format_usage() for sub in (training, checking))
    args = parser.parse_args(argv)
    if args.command == "gate" and not args.weights.is_file():
        print(f"weights: {args.weights} is not a file; expected a toy-clip-*.safetensors file", file=sys.stderr)
        return 2

    import torch

    torch.set_num_threads(1)
    if args.command == "train":
        started = time.monotonic()
        model, preprocess, tokenizer = build_model(args.seed)
        data = render_training_set(args.samples, args.seed, preprocess)
        print(f"rendered {len(data.records)} images in {time.monotonic() - started:.0f} s", flush=True)
        train(data, model, tokenizer, steps=args.steps, seed=args.seed, log=_log_step(started))
        weights = save_weights(model.eval(), args.out)
        print(weights, flush=True)
    else:
        weights = args.weights
    per_prompt = getattr(args, "per_prompt", 40)
    results = [gate(weights, t, per_prompt) for t in ("religious_building", "art_style")]
    if args.figure is not None:
        confusion_figure(results, args.figure)
    return _report(results)


def _log_step(started: float):
    def log(step: int, loss: float) -> None:
        print(f"step {step}: loss {loss:.3f} ({time.monotonic() - started:.0f} s)", flush=True)

    return log


if __name__ == "__main__":
    sys.exit(main())
