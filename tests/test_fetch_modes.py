"""`python -m harness.fetch --modes`: which of the six released GLIDE checkpoints a fetch plans, and where each goes."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.fetch import glide_modes, parse_args, targets

URL = "https://openaipublic.blob.core.windows.net/diffusion/dec-2021/"
RELEASE = ["base", "upsample", "base_inpaint", "upsample_inpaint", "clip_image_enc", "clip_text_enc"]


def planned(argv: list[str]) -> list[tuple[str, str, Path]]:
    plan, _ = parse_args(["--only", "glide", "--cache-dir", "/cache", *argv])
    return [(t.label, t.source, t.destination) for t in targets(plan)]


def test_by_default_a_fetch_plans_the_text_to_image_pair_only():
    assert planned([]) == [(f"GLIDE {n}", f"{URL}{n}.pt", Path(f"/cache/{n}.pt")) for n in ("base", "upsample")]


def test_all_modes_plan_the_six_released_files_in_release_order():
    assert planned(["--modes", "all"]) == [(f"GLIDE {n}", f"{URL}{n}.pt", Path(f"/cache/{n}.pt")) for n in RELEASE]


def test_the_clip_mode_plans_the_two_noised_clip_encoders():
    assert [label for label, _, _ in planned(["--modes", "clip"])] == ["GLIDE clip_image_enc", "GLIDE clip_text_enc"]


def test_modes_are_taken_in_release_order_whatever_their_order_on_the_command_line():
    assert glide_modes("clip,inpaint") == glide_modes("inpaint,clip") == ("inpaint", "clip")


def test_an_unknown_mode_is_refused_with_the_allowed_ones(capsys):
    with pytest.raises(SystemExit) as stop:
        parse_args(["--modes", "video"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "'video'" in err and "text2im, inpaint, clip or all" in err
