"""`python -m harness.fetch`: which weights a fetch plans for a run's config and its flags, and where each goes."""

from __future__ import annotations

from pathlib import Path

import open_clip
import pytest
import yaml

from harness.fetch import clip_download, glide_modes, main, parse_args, targets

CONF = Path(__file__).resolve().parents[1] / "conf"

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


# --- what the run's config needs ------------------------------------------------------------------------


def plan_of(argv: list[str]):
    plan, dry_run = parse_args(["--dry-run", *argv])
    assert dry_run
    return plan


@pytest.mark.parametrize("model", ["tiny", "toy"])
def test_random_and_toy_models_plan_no_download(model, capsys):
    plan = plan_of(["+suite=bias", f"model={model}"])
    assert plan.kinds == () and plan.clip == ()
    assert main(["--dry-run", "+suite=bias", f"model={model}"]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert line.startswith("nothing to fetch")


def test_the_toy_clip_weights_ship_in_the_package():
    # model=toy's CLIP is a pretrained tag of the harness's own weights: a file in the package, not a download.
    clip = yaml.safe_load((CONF / "model" / "toy.yaml").read_text())["scorer"]["clip"]
    assert clip_download(clip["model"], clip["pretrained"]) == ()


def test_an_override_of_the_scorer_clip_reaches_the_plan(capsys):
    weights = ("ViT-B-32", "laion2b_s34b_b79k")
    argv = ["--only", "clip", "model=tiny", f"scorer.clip.model={weights[0]}", f"scorer.clip.pretrained={weights[1]}"]
    assert plan_of(argv).clip == (weights,)
    assert main(["--dry-run", *argv]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    repo = "/".join(open_clip.pretrained.get_pretrained_cfg(*weights)["hf_hub"].split("/")[:2])
    assert line.startswith(f"CLIP {weights[0]}:{weights[1]}") and f"https://huggingface.co/{repo} -> " in line


def test_clip_guidance_adds_the_noised_clip_to_the_model_pair():
    plan = plan_of(["sampler.guidance=clip"])
    assert plan.modes == ("text2im", "clip") and "glide" in plan.kinds


def test_the_inpainting_preset_plans_its_pair_and_the_pair_of_its_generated_sources():
    assert plan_of(["model=glide_inpaint"]).modes == ("text2im", "inpaint")


def test_local_checkpoint_files_need_no_glide_download():
    plan = plan_of(["model.base_path=base.pt", "model.upsample_path=upsample.pt"])
    assert "glide" not in plan.kinds and "tokenizer" in plan.kinds


def test_the_fid_scorer_adds_the_inception_weights_and_the_clip_of_cmmd():
    plan = plan_of(["scorers=[clip,fid]"])
    assert "inception" in plan.kinds
    assert plan.clip == (("ViT-L-14", "openai"), ("ViT-L-14-336", "openai"))


def test_fid_with_another_feature_extractor_needs_no_inception():
    features = "scorer.fid.feature_extractor=harness.scorers.tiny_features:TinyFeatures"
    assert "inception" not in plan_of(["scorers=[fid]", features]).kinds


def test_flags_override_what_the_config_says(tmp_path):
    plan = plan_of(["model=tiny", "--modes", "clip", "--clip", "ViT-B-32:openai", "--cache-dir", str(tmp_path)])
    assert plan.kinds == ("glide", "clip") and plan.modes == ("clip",)
    assert plan.clip == (("ViT-B-32", "openai"),) and plan.cache_dir == tmp_path


def test_the_glide_cache_dir_comes_from_the_config(tmp_path):
    assert plan_of([f"model.cache_dir={tmp_path}"]).cache_dir == tmp_path


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ("model=nope", "'nope'"),
        ("scorer.clip.batch_size=0", "scorer.clip.batch_size"),
        ("+scorer.clip.colour=red", "scorer.clip.colour"),
        ("sampler.guidance=loud", "'loud'"),
    ],
)
def test_a_bad_override_exits_2_with_one_line(override, named, capsys):
    with pytest.raises(SystemExit) as stop:
        parse_args(["--dry-run", override])
    assert stop.value.code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("error: ") and named in line
