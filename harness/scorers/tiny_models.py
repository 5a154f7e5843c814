"""Tiny random-weight detector, segmenter and PickScore models built in code, so smoke runs and tests score offline.

`harness-tiny-owlv2` (OWLv2), `harness-tiny-clipseg` (CLIPSeg) and `harness-tiny-pickscore` (a CLIPModel with
its processor) stand where a hub id or local folder would; each is a transformers model at toy widths, its
weights drawn from a fixed seed, so one name always means the same weights. Their tokenizer spells every word
letter by letter over a 56-token vocabulary (no merges and no vocabulary file): all a random model needs.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

OWLV2 = "harness-tiny-owlv2"
CLIPSEG = "harness-tiny-clipseg"
PICKSCORE = "harness-tiny-pickscore"
# The HPS model with `hps_checkpoint: null` is its open_clip architecture with random weights from this seed.
HPS_RANDOM_SEED = 3

# The special tokens come last, as in CLIP's vocabulary: OWL-ViT treats a query whose first id is 0 as padding.
LETTERS = list(string.ascii_lowercase)
TOKENS = [*LETTERS, *(c + "</w>" for c in LETTERS), "<|startoftext|>", "<|endoftext|>"]
VOCAB = {token: i for i, token in enumerate(TOKENS)}
BOS, EOS = VOCAB["<|startoftext|>"], VOCAB["<|endoftext|>"]
IMAGE_SIZE = 32
# Letters, not words: "a photo of a polar bear" is 19 letters + BOS/EOS, so OWL queries get 32 positions.
QUERY_POSITIONS = 32
PROMPT_POSITIONS = 77


def letter_tokenizer(model_max_length: int = PROMPT_POSITIONS) -> Any:
    """A CLIPTokenizer over the letter vocabulary (CLIP's lower-casing and `</w>` word ends, no merges)."""
    from transformers import CLIPTokenizer

    return CLIPTokenizer(vocab=dict(VOCAB), merges=[], model_max_length=model_max_length)


def text_config(max_positions: int) -> dict[str, Any]:
    """A one-layer, 16-wide CLIP text tower over the letter vocabulary."""
    return {
        "vocab_size": len(VOCAB),
        "hidden_size": 16,
        "intermediate_size": 32,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "max_position_embeddings": max_positions,
        "bos_token_id": BOS,
        "eos_token_id": EOS,
        "pad_token_id": EOS,
    }


def vision_config(image_size: int = IMAGE_SIZE, patch_size: int = 8) -> dict[str, Any]:
    """A one-layer, 16-wide ViT over `image_size` pixels in patches of `patch_size`."""
    return {
        "image_size": image_size,
        "patch_size": patch_size,
        "hidden_size": 16,
        "intermediate_size": 32,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
    }


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Draws initial weights from `seed` without moving the caller's global CPU RNG."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def _owlv2() -> tuple[Any, Any]:
    from transformers import Owlv2Config, Owlv2ForObjectDetection, Owlv2ImageProcessor, Owlv2Processor

    config = Owlv2Config(text_config=text_config(QUERY_POSITIONS), vision_config=vision_config(), projection_dim=16)
    size = {"height": IMAGE_SIZE, "width": IMAGE_SIZE}
    processor = Owlv2Processor(Owlv2ImageProcessor(size=size), letter_tokenizer(QUERY_POSITIONS))
    return Owlv2ForObjectDetection(config), processor


def _clipseg() -> tuple[Any, Any]:
    from transformers import CLIPSegConfig, CLIPSegForImageSegmentation, CLIPSegProcessor, ViTImageProcessor

    config = CLIPSegConfig(
        text_config=text_config(PROMPT_POSITIONS),
        vision_config=vision_config(),
        projection_dim=16,
        reduce_dim=8,
        extract_layers=[0],
        decoder_num_attention_heads=2,
        decoder_intermediate_size=16,
    )
    image_processor = ViTImageProcessor(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE})
    return CLIPSegForImageSegmentation(config), CLIPSegProcessor(image_processor, letter_tokenizer())


def _pickscore() -> tuple[Any, Any]:
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

    config = CLIPConfig(text_config=text_config(PROMPT_POSITIONS), vision_config=vision_config(), projection_dim=16)
    image_processor = CLIPImageProcessor(
        size={"shortest_edge": IMAGE_SIZE}, crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}
    )
    return CLIPModel(config), CLIPProcessor(image_processor, letter_tokenizer())


# name -> (seed of its weights, builder of (model, processor)). OWLv2's random logit shift and scale heads
# saturate most seeds' box scores at 1.0; seed 2 keeps them spread (about 0.5 to 0.99), so thresholds split them.
TINY_MODELS: dict[str, tuple[int, Callable[[], tuple[Any, Any]]]] = {
    OWLV2: (2, _owlv2),
    CLIPSEG: (1, _clipseg),
    PICKSCORE: (0, _pickscore),
}


def is_tiny(name: str) -> bool:
    return name in TINY_MODELS


def build(name: str) -> tuple[Any, Any]:
    """(model in eval mode, processor) of a tiny model, on the CPU; the same weights on every call."""
    seed, builder = TINY_MODELS[name]
    with seeded(seed):
        model, processor = builder()
    return model.eval(), processor
