"""Which mode a model runs in: the model config chooses (inpainting presets inpaint, every other runs
text-to-image), and a mode registered later, as a plugin's, is chosen over the built-ins where it applies."""

from __future__ import annotations

import pytest

from harness.generate.boundary import MODES, Mode, mode_of, register_mode
from harness.glide.presets import PRESETS
from harness.glide.spec import ModelSpec


def model(base: str, upsample: str, name: str = "m") -> ModelSpec:
    return ModelSpec(name=name, base=base, upsample=upsample, weights="random")


@pytest.mark.parametrize(
    ("base", "upsample"),
    [
        ("base", "upsample"),
        ("tiny_base", "tiny_upsample"),
        ("tiny_base_inpaint", "tiny_upsample_inpaint"),
        ("base_inpaint", "upsample_inpaint"),
    ],  # fmt: skip
)
def test_an_inpainting_preset_inpaints_and_any_other_runs_text_to_image(base, upsample):
    assert mode_of(model(base, upsample)).name == ("inpaint" if PRESETS[base].inpaint else "text2im")


def test_a_mode_registered_later_wins_where_it_applies():
    class Mine(Mode):
        name = "mine"

        def applies(self, spec: ModelSpec) -> bool:
            return spec.name == "mine"

    register_mode(Mine())
    try:
        assert mode_of(model("tiny_base", "tiny_upsample", name="mine")).name == "mine"
        assert mode_of(model("tiny_base_inpaint", "tiny_upsample_inpaint", name="mine")).name == "mine"
        assert mode_of(model("tiny_base_inpaint", "tiny_upsample_inpaint")).name == "inpaint"
    finally:
        del MODES["mine"]
