"""Prompt -> (tokens, mask) for the GLIDE text encoder, on tiktoken's byte-level BPE.

GLIDE's tokenizer is GPT-2's BPE on lower-cased text with no start token; tiktoken's `gpt2` encoding reproduces it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from functools import cache
from pathlib import Path

import platformdirs
import tiktoken
import torch

from .bad_input import GlideInputError

log = logging.getLogger(__name__)

ENCODINGS = ("gpt2", "bytes")


class TokenizerError(GlideInputError):
    """The tokenizer's vocabulary could not be loaded."""


@cache
def byte_encoding() -> tiktoken.Encoding:
    """A 257-token byte-level encoding (256 bytes + end-of-text), for the random-weight tiny models.

    It needs no download, so the whole pipeline runs offline with `model=tiny`.
    """
    return tiktoken.Encoding(
        name="glide-eval-bytes",
        pat_str=r"""'s|'t|'re|'ve|'m|'ll|'d| ?\w+| ?\d+| ?[^\s\w]+|\s+""",
        mergeable_ranks={bytes([i]): i for i in range(256)},
        special_tokens={"<|endoftext|>": 256},
    )


GPT2_VOCAB_URL = "https://openaipublic.blob.core.windows.net/gpt-2/encodings/main/vocab.bpe"


def tiktoken_cache_dir() -> Path:
    """Where tiktoken keeps its vocabulary files: $TIKTOKEN_CACHE_DIR, else the user cache dir (tiktoken's
    own default is the temp dir, which an offline cluster cannot pre-fill)."""
    from_env = os.environ.get("TIKTOKEN_CACHE_DIR")
    return Path(from_env) if from_env else Path(platformdirs.user_cache_dir("glide-eval")) / "tiktoken"


def load_encoding(name: str) -> tiktoken.Encoding:
    """Look up an encoding by name: `gpt2` (the released models) or `bytes` (tiny models)."""
    if name == "bytes":
        return byte_encoding()
    if name != "gpt2":
        raise ValueError(f"unknown tokenizer {name!r}; allowed: {', '.join(ENCODINGS)}")
    # tiktoken reads its cache location from the environment only.
    os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(tiktoken_cache_dir()))
    try:
        return tiktoken.get_encoding("gpt2")
    except Exception as err:  # tiktoken fetches its vocabulary files on first use
        raise TokenizerError(
            "could not load tiktoken's 'gpt2' vocabulary (it is downloaded once on first use and cached in "
            f"{tiktoken_cache_dir()}). On an offline machine run `python -m harness.fetch` where the network is "
            f"reachable and copy the cache over. Cause: {err}"
        ) from err


PROMPT_HEAD_WORDS = 6


def prompt_head(prompt: str) -> str:
    """The first words of a prompt, enough to find it in a suite without printing a paragraph."""
    words = prompt.split()
    return " ".join(words[:PROMPT_HEAD_WORDS]) + (" ..." if len(words) > PROMPT_HEAD_WORDS else "")


@cache  # once per prompt and process: every batch and both stages encode the same prompt again
def warn_truncated(prompt: str, n_tokens: int, text_ctx: int) -> None:
    log.warning(
        "prompt %r is %d tokens long; the model reads %d, so the last %d are dropped",
        prompt_head(prompt),
        n_tokens,
        text_ctx,
        n_tokens - text_ctx,
    )


class Tokenizer:
    """Encodes prompts as fixed-length token rows padded with end-of-text, plus a mask of real tokens."""

    def __init__(self, encoding: tiktoken.Encoding, text_ctx: int):
        if text_ctx <= 0:
            raise ValueError(f"text_ctx must be positive, got {text_ctx}")
        self.encoding = encoding
        self.text_ctx = text_ctx
        self.pad_token = encoding.eot_token

    def encode(self, prompt: str) -> tuple[list[int], list[bool]]:
        tokens = self.encoding.encode_ordinary(prompt.lower())
        if len(tokens) > self.text_ctx:
            warn_truncated(prompt, len(tokens), self.text_ctx)
            tokens = tokens[: self.text_ctx]
        pad = self.text_ctx - len(tokens)
        return tokens + [self.pad_token] * pad, [True] * len(tokens) + [False] * pad

    def batch(self, prompts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Token ids (batch, text_ctx) as int64 and the boolean mask of real tokens.

        The empty prompt "" gives the unconditional row: all padding, mask all False.
        """
        rows = [self.encode(p) for p in prompts]
        tokens = torch.tensor([r[0] for r in rows], dtype=torch.long)
        mask = torch.tensor([r[1] for r in rows], dtype=torch.bool)
        return tokens, mask
