"""Specification of the prompt tokenizer: lower-cased BPE, no start token, cut to text_ctx, end-of-text padding.

A small byte-level tiktoken Encoding built here stands in for `gpt2` (which needs a download).
"""

from __future__ import annotations

import logging

import pytest
import tiktoken
import torch

from harness.glide.tokenizer import Tokenizer, byte_encoding, load_encoding

EOT = 259
# Every byte is a token (rank = byte value); three merges build "corg" from "co" + "rg".
MERGES = {b"co": 256, b"rg": 257, b"corg": 258}


@pytest.fixture(scope="module")
def encoding() -> tiktoken.Encoding:
    return tiktoken.Encoding(
        name="test-bytes-with-merges",
        pat_str=r"""'s|'t| ?\w+| ?[^\s\w]+|\s+""",
        mergeable_ranks={bytes([i]): i for i in range(256)} | MERGES,
        special_tokens={"<|endoftext|>": EOT},
    )


def test_prompt_is_lower_cased_before_encoding_without_a_start_token(encoding):
    tokens, mask = Tokenizer(encoding, text_ctx=8).encode("A CORGI")
    # "a", then " corgi" -> " ", "corg" (co + rg), "i"; padded to 8 with end-of-text.
    assert tokens == [ord("a"), ord(" "), 258, ord("i"), EOT, EOT, EOT, EOT]
    assert mask == [True, True, True, True, False, False, False, False]


def test_non_ascii_text_is_lower_cased_too(encoding):
    tokens, _ = Tokenizer(encoding, text_ctx=4).encode("É")
    assert tokens[:2] == list("é".encode())


def test_batch_is_int64_tokens_and_boolean_mask_of_text_ctx_columns(encoding):
    tokens, mask = Tokenizer(encoding, text_ctx=6).batch(["corg", "Co co"])
    assert tokens.dtype == torch.int64 and mask.dtype == torch.bool
    assert tokens.tolist() == [[258, EOT, EOT, EOT, EOT, EOT], [256, ord(" "), 256, EOT, EOT, EOT]]
    assert mask.tolist() == [[True] + [False] * 5, [True] * 3 + [False] * 3]


def test_padding_token_is_the_encodings_end_of_text(encoding):
    assert Tokenizer(encoding, text_ctx=4).pad_token == EOT
    assert Tokenizer(byte_encoding(), text_ctx=4).pad_token == 256


def test_empty_prompt_is_all_padding_with_an_all_false_mask(encoding):
    tokens, mask = Tokenizer(encoding, text_ctx=5).batch([""])
    assert tokens.tolist() == [[EOT] * 5]
    assert not mask.any()


def test_prompt_of_exactly_text_ctx_tokens_is_kept_whole_without_warning(encoding, caplog):
    with caplog.at_level(logging.WARNING):
        tokens, mask = Tokenizer(encoding, text_ctx=3).encode("xyz")
    assert tokens == [ord("x"), ord("y"), ord("z")] and all(mask)
    assert not caplog.records


def test_long_prompt_is_cut_to_text_ctx_with_a_warning_naming_prompt_and_dropped_count(encoding, caplog):
    prompt = "Abcdefghij"  # 10 single-byte tokens
    with caplog.at_level(logging.WARNING, logger="harness.glide.tokenizer"):
        tokens, mask = Tokenizer(encoding, text_ctx=4).encode(prompt)
    assert tokens == [ord(c) for c in "abcd"] and mask == [True] * 4
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    message = record.getMessage()
    assert repr(prompt) in message
    assert "last 6 are dropped" in message


def test_non_positive_text_ctx_is_refused(encoding):
    with pytest.raises(ValueError, match="text_ctx must be positive, got 0"):
        Tokenizer(encoding, text_ctx=0)


def test_bytes_encoding_maps_each_byte_to_its_value():
    tokens, mask = Tokenizer(load_encoding("bytes"), text_ctx=6).encode("Hi ÿ")
    assert tokens == [*"hi ÿ".encode(), 256]
    assert mask == [True] * 5 + [False]


def test_unknown_encoding_name_is_one_clear_error():
    with pytest.raises(ValueError) as err:
        load_encoding("gpt3")
    message = str(err.value)
    assert "\n" not in message
    assert "'gpt3'" in message and "gpt2" in message and "bytes" in message


def test_a_long_prompt_is_named_by_its_first_words_and_warned_about_once(encoding, caplog):
    prompt = "a painting of " + " ".join(f"word{i}" for i in range(40))  # 3 + 40 words, over 128 byte tokens
    n_tokens = len(prompt)  # one token per byte
    with caplog.at_level(logging.WARNING, logger="harness.glide.tokenizer"):
        for text_ctx in (128, 128):  # two stages of one run
            Tokenizer(encoding, text_ctx=text_ctx).batch([prompt, prompt])
    (record,) = caplog.records
    message = record.getMessage()
    assert "'a painting of word0 word1 word2 ...'" in message and "word3" not in message
    assert f"is {n_tokens} tokens long; the model reads 128, so the last {n_tokens - 128} are dropped" in message
