"""The tiny random-weight transformers models: the same weights on every build, the caller's RNG untouched,
a letter-by-letter tokenizer and processors that feed 32 x 32 pixels."""

from __future__ import annotations

import string

import numpy as np
import pytest
import tiny_hf  # noqa: F401  (offline before transformers is imported)
import torch
from PIL import Image

from harness.scorers.tiny_models import TINY_MODELS, build, is_tiny, letter_tokenizer


@pytest.mark.parametrize("name", sorted(TINY_MODELS))
def test_each_build_has_the_same_weights_and_leaves_the_global_rng_alone(name):
    torch.manual_seed(123)
    before = torch.get_rng_state()
    first, _ = build(name)
    assert torch.equal(torch.get_rng_state(), before)
    second, _ = build(name)
    a, b = first.state_dict(), second.state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[key], b[key]) for key in a)
    assert not first.training


def test_the_tiny_models_differ_from_each_other_in_their_text_embeddings():
    tables = [build(name)[0].state_dict() for name in sorted(TINY_MODELS)]
    keys = [next(k for k in t if k.endswith("token_embedding.weight")) for t in tables]
    rows = [t[k] for t, k in zip(tables, keys, strict=True)]
    assert not torch.equal(rows[0], rows[1]) and not torch.equal(rows[1], rows[2])


def test_the_tokenizer_spells_each_word_letter_by_letter():
    letter = {c: i for i, c in enumerate(string.ascii_lowercase)}
    word_end = {c: 26 + i for i, c in enumerate(string.ascii_lowercase)}
    start, end = 52, 53
    expected = [start, word_end["a"], letter["c"], letter["a"], word_end["t"], letter["o"], word_end["k"], end]
    assert letter_tokenizer()("A cat ok").input_ids == expected


@pytest.mark.parametrize("name", sorted(TINY_MODELS))
def test_the_processor_resizes_any_image_to_the_models_32_pixels(name):
    _, processor = build(name)
    image = Image.fromarray(np.full((256, 200, 3), 7, dtype=np.uint8))
    pixels = processor(images=[image], return_tensors="pt")["pixel_values"]
    assert tuple(pixels.shape) == (1, 3, 32, 32)


def test_only_the_registered_names_are_tiny():
    assert is_tiny("harness-tiny-owlv2") and is_tiny("harness-tiny-clipseg") and is_tiny("harness-tiny-pickscore")
    assert not is_tiny("google/owlv2-base-patch16-ensemble") and not is_tiny("harness-tiny-clip")
