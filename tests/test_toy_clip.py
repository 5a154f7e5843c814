"""The toy CLIP: its contrastive loss, a few training steps, the committed weights and the gate (zero-shot accuracy
of the bias and style probes on fresh toy-world samples, judged by the truth record, not by the prompt)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from safetensors.torch import load_file
from scipy import special, stats

from harness.scorers.configs import HARNESS_WEIGHTS_DIR, ClipConfig, harness_pretrained_tag
from harness.scorers.weights import open_clip_weights
from harness.toy import toy_clip

REPO = Path(__file__).resolve().parents[1]
MAX_BYTES = 20 * 2**20


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def weights() -> Path:
    files = sorted(HARNESS_WEIGHTS_DIR.glob("*.safetensors"))
    assert len(files) == 1, files
    return files[0]


def test_with_distinct_captions_the_loss_is_open_clips_clip_loss():
    import open_clip

    gen = torch.Generator().manual_seed(0)
    images, texts = torch.randn(6, 8, generator=gen), torch.randn(6, 8, generator=gen)
    scale = torch.tensor(7.0)
    ours = toy_clip.contrastive_loss(images, texts, scale, [f"caption {i}" for i in range(6)])
    theirs = open_clip.ClipLoss()(
        torch.nn.functional.normalize(images, dim=-1), torch.nn.functional.normalize(texts, dim=-1), scale
    )
    assert float(ours) == pytest.approx(float(theirs), rel=1e-6)


def test_a_repeated_caption_is_one_text_whose_positives_are_all_its_images():
    gen = torch.Generator().manual_seed(1)
    images, texts = torch.randn(5, 4, generator=gen), torch.randn(5, 4, generator=gen)
    captions = ["a church", "a mosque", "a church", "a torii", "a church"]
    ours = float(toy_clip.contrastive_loss(images, texts, torch.tensor(3.0), captions))
    # NumPy: the distinct captions take the text features of their first image; a repeat is no negative.
    unit = lambda x: x / np.linalg.norm(x, axis=1, keepdims=True)  # noqa: E731
    distinct = ["a church", "a mosque", "a torii"]
    logits = 3.0 * unit(images.numpy().astype(float)) @ unit(texts.numpy()[[0, 1, 3]].astype(float)).T
    owner = np.array([distinct.index(c) for c in captions])
    image_side = -special.log_softmax(logits, axis=1)[np.arange(5), owner].mean()
    by_text = special.log_softmax(logits.T, axis=1)
    text_side = -np.mean([by_text[j, owner == j].mean() for j in range(3)])
    assert ours == pytest.approx((image_side + text_side) / 2, rel=1e-5)


def test_a_few_training_steps_lower_the_contrastive_loss_on_rendered_images():
    model, preprocess, tokenizer = toy_clip.build_model(seed=0)
    data = toy_clip.render_training_set(6, seed=0, preprocess=preprocess)  # 12 images: 64 and 256 px of 6 renders
    vocab = toy_clip.Vocabulary.of_taxonomies()
    rng = np.random.default_rng(5)
    captions = [toy_clip.caption(r, vocab, rng) for r in data.records]
    images = torch.from_numpy(data.pixels).float()

    def loss() -> float:
        with torch.no_grad():
            return float(toy_clip.contrastive_loss(*model(images, tokenizer(captions)), captions))

    before = loss()
    toy_clip.train(data, model, tokenizer, steps=12, seed=0, batch=12, lr=1e-3)
    after = loss()
    assert after < before - 0.2, (before, after)


def test_captions_say_what_the_truth_records_drew_not_what_the_prompt_asked():
    vocab = toy_clip.Vocabulary.of_taxonomies()
    record = {
        "prompt": "a church",
        "items": [{"named": "church", "drawn": "mosque", "status": "wrong_class", "cls": "mosque"}],
        "style_drawn": "pixel_art",
        "style_failure": None,
    }
    rng = np.random.default_rng(0)
    for text in (toy_clip.caption(record, vocab, rng) for _ in range(30)):
        assert "church" not in text
        assert "mosque" in text or any(name in text for name in vocab.styles["pixel_art"])


def test_the_committed_weights_are_named_by_their_sha256_and_load_as_safetensors(weights):
    assert weights.stat().st_size <= MAX_BYTES
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    assert weights.name == f"toy-clip-{digest[:16]}.safetensors"
    state = load_file(str(weights))
    model, _, _ = toy_clip.build_model(seed=0)
    assert {k: tuple(v.shape) for k, v in state.items()} == {k: tuple(v.shape) for k, v in model.state_dict().items()}


def test_model_toy_names_the_committed_weights_and_they_resolve_from_any_folder(weights, tmp_path, monkeypatch):
    toy = OmegaConf.load(REPO / "conf/model/toy.yaml").scorer.clip
    assert (toy.model, toy.pretrained) == harness_pretrained_tag(weights)
    monkeypatch.chdir(tmp_path)
    config = ClipConfig(model=toy.model, pretrained=toy.pretrained)
    assert weights.name.removesuffix(".safetensors")[-16:] in config.model_id
    (source,) = open_clip_weights("toy", config.model_name, config.pretrained)
    assert Path(source.source) == weights and source.available


@pytest.mark.parametrize(("taxonomy", "per_prompt"), [("religious_building", 8), ("art_style", 3)])
def test_the_gate_holds_on_fresh_samples_judged_by_the_truth(weights, taxonomy, per_prompt):
    """About 8 fresh images per class (seeds never used in training). The gate asks for a true accuracy >= 0.85;
    a model exactly at 0.85 would score below the binomial 0.1% quantile of n trials once in a thousand, so that
    quantile, not 0.85 itself, is what a sample this small is held to."""
    result = toy_clip.gate(weights, taxonomy, per_prompt)
    floor = stats.binom.ppf(0.001, result.n, toy_clip.GATE_THRESHOLD) / result.n
    assert result.n >= 7 * len(result.classes)  # a missing subject has no class and is left out
    assert result.accuracy >= floor, (result.accuracy, floor, result.confusion)
