"""Tiny Hugging Face parts built in the test: a CLIP tokenizer over a 56-token vocabulary and small tower configs.

Every word is spelt letter by letter (no merges), which is all a random-weight model needs.
"""

from __future__ import annotations

import os
import string

# Set before transformers is imported by the test modules that use this one: nothing may reach the network.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

from transformers import CLIPTokenizer  # noqa: E402

# The special tokens come last, as in CLIP's vocabulary: OWL-ViT treats a query whose first id is 0 as padding.
LETTERS = list(string.ascii_lowercase)
TOKENS = [*LETTERS, *(c + "</w>" for c in LETTERS), "<|startoftext|>", "<|endoftext|>"]
VOCAB = {token: i for i, token in enumerate(TOKENS)}
BOS, EOS = VOCAB["<|startoftext|>"], VOCAB["<|endoftext|>"]


def tiny_tokenizer(model_max_length: int = 77) -> CLIPTokenizer:
    return CLIPTokenizer(vocab=dict(VOCAB), merges=[], model_max_length=model_max_length)


def text_config(max_positions: int) -> dict:
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


def vision_config(image_size: int = 32, patch_size: int = 8) -> dict:
    return {
        "image_size": image_size,
        "patch_size": patch_size,
        "hidden_size": 16,
        "intermediate_size": 32,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
    }
