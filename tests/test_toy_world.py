"""The toy world (model=toy): deterministic pictures whose planted rates and laws its truth records carry.

Rates are checked against the world's table with scipy's exact binomial test over seeded draws: a seeded run
always gives the same counts, and the threshold (p > 1e-4) leaves room for Monte-Carlo error at any table.
Areas and grain are measured from the pixels, independently of what the generator says it drew.
"""

from __future__ import annotations

import dataclasses
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml
from scipy import stats

from harness.config.schema import SampleParams
from harness.errors import ConfigError
from harness.toy.generator import read_truth, render
from harness.toy.render import LAKE_COLOUR
from harness.toy.scene import compose
from harness.toy.world import World

REPO = Path(__file__).resolve().parents[1]
CFG = SampleParams(guidance="classifier_free", guidance_scale=3.0, upsample_temp=0.997)
SEEDS = range(1000)
# An exact two-sided binomial p below this fails: about 3.9 standard errors, a false alarm 1 in 10000 per check
# at the true rate, so the file's ~25 checks stay clear of Monte-Carlo error at any seeding of the world.
P_MIN = 1e-4


def rate_matches(successes: int, trials: int, p: float) -> bool:
    return stats.binomtest(successes, trials, p).pvalue > P_MIN


def scenes(prompt: str, guidance_scale: float = 3.0, guidance: str = "classifier_free", world: World | None = None):
    world = world or World()
    return [compose(prompt, seed, guidance, guidance_scale, world) for seed in SEEDS]


def test_a_sample_is_the_same_bytes_every_time_and_another_seed_is_not():
    first = render("a house by the lake", 7, CFG, World())
    again = render("a house by the lake", 7, CFG, World())
    other = render("a house by the lake", 8, CFG, World())
    assert first[0].shape == (64, 64, 3) and first[1].shape == (256, 256, 3)
    assert first[0].dtype == np.uint8 and first[1].dtype == np.uint8
    assert first[0].tobytes() == again[0].tobytes() and first[1].tobytes() == again[1].tobytes()
    assert first[2] == again[2]
    assert first[1].tobytes() != other[1].tobytes()


@pytest.mark.parametrize("guidance_scale", [1.0, 3.0, 5.0, 8.0])
def test_the_church_share_of_ambiguous_prompts_follows_the_planted_law(guidance_scale):
    world = World()
    planted = {1.0: 0.45, 3.0: 0.60, 5.0: 0.75, 8.0: 0.75}[guidance_scale]  # linear from 1 to 5, flat beyond
    classes = [s.items[0].cls for s in scenes("a religious building", guidance_scale, world=world)]
    assert rate_matches(classes.count("church"), len(classes), planted)
    others = [classes.count(c) for c in sorted(set(classes) - {"church"})]
    assert len(others) == 6 and stats.chisquare(others).pvalue > P_MIN  # the rest shared equally


def test_paraphrases_of_the_religious_prompt_share_one_law():
    """The planted no-effect: which words ask for a religious building does not change the church share."""
    counts = [
        [s.items[0].cls for s in scenes(p, 5.0)].count("church")
        for p in ("a religious building", "a religious place", "a place of worship")
    ]
    table = [[c, len(SEEDS) - c] for c in counts]
    assert stats.chi2_contingency(table).pvalue > P_MIN
    assert all(rate_matches(c, len(SEEDS), 0.75) for c in counts)


def test_the_church_share_is_dialled_from_the_table():
    world = World.from_options({"church_share_at_1": 0.2, "church_share_at_5": 0.3})
    classes = [s.items[0].cls for s in scenes("a place of worship", 1.0, world=world)]
    assert rate_matches(classes.count("church"), len(classes), 0.2)


def test_pixel_art_fails_more_often_than_the_other_styles():
    world = World()
    pixel = sum(s.style_failure is not None for s in scenes("pixel art of a corgi"))
    oil = sum(s.style_failure is not None for s in scenes("an oil painting of a corgi"))
    assert rate_matches(pixel, len(SEEDS), world.pixel_art_failure)
    assert rate_matches(oil, len(SEEDS), world.style_failure)


def test_novel_compositions_drop_an_object_more_often_than_familiar_ones():
    world = World()
    novel = scenes("a polar bear sailing a ship")
    familiar = scenes("a house by the lake")
    assert {s.composition for s in novel} == {"novel"} and {s.composition for s in familiar} == {"familiar"}
    dropped = [sum(any(i.status == "dropped" for i in s.items) for s in group) for group in (novel, familiar)]
    assert rate_matches(dropped[0], len(SEEDS), world.drop_novel)
    assert rate_matches(dropped[1], len(SEEDS), world.drop_familiar)


def test_clip_guidance_draws_the_wrong_class_more_often_than_classifier_free():
    world = World()
    for guidance, rate in (("classifier_free", world.wrong_class_cfg), ("clip", world.wrong_class_clip)):
        wrong = sum(s.items[0].status == "wrong_class" for s in scenes("a mosque", guidance=guidance))
        assert rate_matches(wrong, len(SEEDS), rate)


@pytest.mark.parametrize(("guidance_scale", "mean"), [(1.0, 0.20), (3.0, 0.325), (5.0, 0.45), (9.0, 0.45)])
def test_the_lake_grows_with_guidance_by_the_planted_law(guidance_scale, mean):
    targets = np.array([s.lake_area_target for s in scenes("a house by the lake", guidance_scale)])
    standard_error = World().lake_area_sd / np.sqrt(len(targets))
    assert abs(targets.mean() - mean) < 4 * standard_error  # 4 SE: a false alarm 1 in 16000
    assert targets.std() == pytest.approx(World().lake_area_sd, rel=0.1)  # SE of an SD, n=1000: 2.2%


CLEAN = World.from_options({"colour_bleed": 0.0, "occlusion": 0.0, "noise": 0.0, "blur": 0.0})
WHOLE = World.from_options({**dataclasses.asdict(CLEAN), "drop_familiar": 0.0, "drop_novel": 0.0, "merge": 0.0})


@pytest.mark.parametrize(("seed", "guidance_scale"), [(0, 1.0), (1, 3.0), (2, 5.0), (3, 7.0)])
def test_the_recorded_lake_area_is_the_lake_the_pixels_show(seed, guidance_scale):
    """Lake pixels counted by colour in the 256 px image; the shore's soft edge (~256 px of 65536) is the slack."""
    _, large, truth = render("a house by the lake", seed, replace(CFG, guidance_scale=guidance_scale), CLEAN)
    if truth["lake_area"] is None:
        pytest.skip("this draw dropped the lake")
    lake = np.linalg.norm(large.astype(float) - np.array(LAKE_COLOUR), axis=2) < 45
    assert lake.mean() == pytest.approx(truth["lake_area"], abs=0.006)


@pytest.mark.parametrize("temperature", [0.99, 0.995, 1.0])
def test_grain_at_256_px_follows_the_upsample_temperature_law(temperature):
    """The sky is flat along each row, so its spread within a row is the grain (plus uint8 rounding, 1/12)."""
    _, large, truth = render("a house by the lake", 4, replace(CFG, upsample_temp=temperature), CLEAN)
    sky = large[:40].astype(float)
    residual = sky - sky.mean(axis=1, keepdims=True)
    planted = 8.0 * (temperature - 0.98) / 0.02
    assert truth["upsample"]["grain_sd"] == pytest.approx(planted)
    # 40 x 256 px per channel: the SD's standard error is under 1%; 4% covers it and the rows' mean.
    assert residual.std() == pytest.approx(np.sqrt(planted**2 + 1 / 12), rel=0.04)


def test_an_unknown_noun_is_drawn_as_a_blob_and_recorded_as_unknown():
    _, large, truth = render("a quokka riding a bicycle", 0, CFG, WHOLE)
    quokka, bicycle = truth["items"]
    assert (quokka["named"], quokka["status"], bicycle["named"]) == ("?quokka", "unknown", "bicycle")
    x0, y0, x1, y1 = (round(v) for v in quokka["box"])
    assert quokka["area"] > 0.01 and large.shape == (256, 256, 3)
    # the blob's colour, fixed by the word's spelling, fills the middle of its box
    from harness.toy.vocabulary import unknown_colour

    middle = large[(y0 + y1) // 2 + 10, (x0 + x1) // 2].astype(float)
    assert np.abs(middle - np.array(unknown_colour("quokka"))).max() < 30


def test_the_model_config_holds_the_whole_table_at_its_defaults():
    conf = yaml.safe_load((REPO / "conf/model/toy.yaml").read_text())
    assert conf["model"]["world"] == dataclasses.asdict(World())


@pytest.mark.parametrize(
    ("options", "named"),
    [({"church_share": 0.5}, "model.world.church_share:"), ({"drop_novel": 1.5}, "model.world.drop_novel: 1.5")],
)
def test_a_bad_table_entry_is_refused_by_name(options, named):
    with pytest.raises(ConfigError, match=named):
        World.from_options(options)


def test_the_generator_writes_each_samples_truth_under_its_store_key(tmp_path):
    import torch

    from harness.config.schema import SamplerConfig
    from harness.config.suites import Prompt
    from harness.run.plan import SampleSpec, Sampling
    from harness.toy.generator import ToyGenerator

    def spec(**sampler) -> SampleSpec:
        environment = dict(model_id=World().model_id, device_type="cpu", dtype="fp32", per_sample=True, compiled=False)
        return SampleSpec(
            Prompt(id="x", text="a synagogue"), 3, Sampling.create(SamplerConfig(**sampler), **environment)
        )

    generator = ToyGenerator(World(), tmp_path)
    first = spec()
    small = generator.base([first.request()])
    large = generator.upsample([first.request()], small)
    assert read_truth(tmp_path, "base", first.base_key)["key"] == first.base_key
    assert read_truth(tmp_path, "upsample", first.key)["base_key"] == first.base_key
    # steps have no effect on the picture (a planted no-effect): another loop, the same bytes
    other = spec(base_steps="20")
    assert other.base_key != first.base_key
    assert torch.equal(small, generator.base([other.request()]))
    assert large.shape == (1, 256, 256, 3)


SUITE_FILES = sorted((REPO / "conf/suite").glob("*.yaml"))
SHIPPED = [f.stem for f in SUITE_FILES if yaml.safe_load(f.read_text()).get("prompts")]
# HPSv2's benchmark groups that no art_style class names: its prompts say their style in words of their own.
BENCHMARK_STYLES = {"concept-art", "paintings"}


def suite_prompts(suite: str) -> list[dict]:
    return yaml.safe_load((REPO / f"conf/suite/{suite}.yaml").read_text())["prompts"]


def test_every_suite_file_with_prompts_is_checked():
    assert len(SHIPPED) == len(SUITE_FILES) - 1  # file.yaml reads its prompts from suite.path
    assert {"bias", "captions", "lake_scenes", "novel_pairs", "style_grid", "hpdv2", "inpaint"} <= set(SHIPPED)


@pytest.mark.parametrize("suite", SHIPPED)
def test_every_noun_of_the_shipped_suites_has_its_own_pictogram(suite):
    """No noun of a suite (nor of an inpainting source) is an unknown blob: each is a pictogram or a backdrop of
    its own; a style tag of the art_style taxonomy is the style read; a control names its class alone."""
    from harness.toy.pictograms import RECIPES
    from harness.toy.render import BACKDROPS
    from harness.toy.vocabulary import NOUNS, STYLES, read_prompt

    for prompt in suite_prompts(suite):
        texts = [prompt["text"], *([prompt["image"]["prompt"]] if "image" in prompt else [])]
        for text in texts:
            reading = read_prompt(text)
            assert reading.nouns or reading.style, text  # a style control names only its style
            assert not [n for n in reading.nouns if n.startswith("?")], (text, reading.nouns)
            for noun in (n for n in reading.nouns if n != "religious"):
                recipe, kind = NOUNS[noun].recipe, NOUNS[noun].kind
                assert recipe in BACKDROPS or recipe == "lake" if kind == "setting" else recipe in RECIPES, noun
                assert recipe != "blob", noun
        tag = prompt.get("tags", {}).get("style")
        if tag:
            assert tag in STYLES or tag in BENCHMARK_STYLES, tag
            if tag in STYLES:
                assert read_prompt(prompt["text"]).style == STYLES[tag], prompt["text"]
        if prompt.get("expected_class"):
            reading = read_prompt(prompt["text"])
            classes = [NOUNS[n].cls for n in reading.nouns] if len(reading.nouns) == 1 else reading.nouns
            assert classes == [prompt["expected_class"]] or reading.style == prompt["expected_class"], prompt["text"]


@pytest.mark.parametrize(
    ("text", "nouns", "counts"),
    [
        ("two dogs playing in the snow", ("dog", "snow"), (2, 1)),
        ("a cat sleeping on a stack of books", ("cat", "book"), (1, 3)),
        ("a teapot and two cups on a tray", ("teapot", "cup", "tray"), (1, 2, 1)),
        ("a giraffe eating leaves from a tall tree", ("giraffe", "leaf", "tree"), (1, 3, 1)),
        ("a green apple on a white plate", ("apple", "plate"), (1, 1)),
        ("a stone house near a mountain lake", ("house", "mountain", "lake"), (1, 1, 1)),
        ("an islamic mosque with a minaret", ("mosque",), (1,)),
        ("a minaret", ("mosque",), (1,)),
        ("a sailing boat on a lake", ("sailing boat", "lake"), (1, 1)),
        ("a raccoon taking a photo with a camera", ("raccoon", "camera"), (1, 1)),
    ],
)
def test_plurals_draw_several_of_a_noun_and_adjectives_and_parts_draw_nothing_of_their_own(text, nouns, counts):
    from harness.toy.vocabulary import read_prompt

    reading = read_prompt(text)
    assert (reading.nouns, reading.counts) == (nouns, counts)
    scene = compose(text, 0, "classifier_free", 3.0, World())
    assert [i.count for i in scene.items] == list(counts)


def test_each_kind_has_two_pictograms_so_a_wrong_class_draw_is_another_thing():
    from harness.toy.vocabulary import NOUNS

    kinds: dict[str, set[str]] = {}
    for noun in NOUNS.values():
        kinds.setdefault(noun.kind, set()).add(noun.recipe)
    assert all(len(recipes) >= 2 for recipes in kinds.values()), kinds


@pytest.mark.parametrize("suite", ["novel_pairs", "novel_pairs_pilot", "novel"])
def test_the_worlds_novel_or_familiar_reading_of_a_composition_is_the_suites_tag(suite):
    """An action ("riding", "typing on", "pouring tea from") joining an unusual pair is novel; the same objects
    placed side by side ("next to") are familiar; every object the detect scorer looks for is drawn."""
    from harness.toy.vocabulary import read_prompt

    for prompt in suite_prompts(suite):
        kind = prompt["tags"]["kind"]
        scene = compose(prompt["text"], 0, "classifier_free", 3.0, World())
        expected = kind if kind in ("novel", "familiar") else "familiar"  # novel.yaml tags its cottage a scene
        assert scene.composition == expected, prompt["text"]
        assert set(prompt.get("objects", [])) <= set(read_prompt(prompt["text"]).nouns), prompt["text"]
        assert (read_prompt(prompt["text"]).action is not None) == (expected == "novel"), prompt["text"]


def test_novel_pairs_novel_compositions_drop_an_object_at_the_novel_rate_and_familiar_ones_at_the_familiar():
    """The planted truth on the suite itself: its 46 novel and 45 familiar prompts x 25 seeds, exact binomial tests
    (p > P_MIN, as above)."""
    world = World()
    dropped = {"novel": [0, 0], "familiar": [0, 0]}
    for prompt in suite_prompts("novel_pairs"):
        for seed in range(25):
            scene = compose(prompt["text"], seed, "classifier_free", 3.0, world)
            counts = dropped[prompt["tags"]["kind"]]
            counts[0] += any(i.status == "dropped" for i in scene.items)
            counts[1] += 1
    assert dropped["novel"][1] >= 1000 and dropped["familiar"][1] >= 1000
    assert rate_matches(*dropped["novel"], world.drop_novel)
    assert rate_matches(*dropped["familiar"], world.drop_familiar)


@pytest.mark.parametrize("suite", ["lake_scenes", "lake_scenes_pilot", "hyperparams"])
def test_every_lake_scene_draws_its_lake_by_the_planted_area_law(suite):
    """Each prompt reads a lake, the lake's planted mean is the law's (0.20 at guidance 1, 0.45 at 5), and in a
    picture drawn without failures the lake's pixels (by colour; unstyled prompts, whose colours are the world's)
    cover the area the truth records; the shore's soft edge is the slack, as above."""
    for prompt in suite_prompts(suite):
        text = prompt["text"]
        for guidance_scale, mean in ((1.0, 0.20), (5.0, 0.45)):
            scene = compose(text, 0, "classifier_free", guidance_scale, World())
            assert any(i.named == "lake" for i in scene.items), text
            assert scene.planted["lake_area_mean"] == pytest.approx(mean), text
        _, large, truth = render(text, 0, CFG, WHOLE)
        assert truth["lake_area"] > 0.05, text
        if truth["style_asked"] is None:
            lake = np.linalg.norm(large.astype(float) - np.array(LAKE_COLOUR), axis=2) < 45
            assert lake.mean() == pytest.approx(truth["lake_area"], abs=0.006), text


def test_the_world_draws_the_taxonomies_classes():
    """Style classes are the art_style taxonomy's, religious classes the religious_building taxonomy's."""
    from harness.toy.pictograms import RECIPES
    from harness.toy.styles import TREATMENTS
    from harness.toy.vocabulary import NOUNS, RELIGIOUS_CLASSES, STYLES

    styles = yaml.safe_load((REPO / "conf/taxonomy/art_style.yaml").read_text())["classes"]
    religions = yaml.safe_load((REPO / "conf/taxonomy/religious_building.yaml").read_text())["classes"]
    assert set(STYLES.values()) == set(styles) and set(TREATMENTS) == {*styles, "plain"}
    assert set(RELIGIOUS_CLASSES) == set(religions) - {"other"}
    assert {n.recipe for n in NOUNS.values() if n.kind != "setting"} <= set(RECIPES)
    for cls in RELIGIOUS_CLASSES:  # every class is named by some noun: a control prompt can ask for it
        assert any(n.cls == cls for n in NOUNS.values())


def test_sharpening_at_256_px_grows_in_proportion_to_the_temperature_above_its_onset():
    """Without grain, out(T) - out(onset) is the sharpening alone: twice as strong at 1.0 as at 0.99 (gain 1 vs
    0.5), measured as a least-squares ratio of pixel differences away from clipping; uint8 rounding is the slack."""
    world = World.from_options({"grain_sd_at_1": 0.0, "noise": 0.0, "blur": 0.0})

    def image(temperature: float) -> np.ndarray:
        return render("a house by the lake", 5, replace(CFG, upsample_temp=temperature), world)[1].astype(float)

    images = [image(t) for t in (0.98, 0.99, 1.0)]
    unclipped = np.all([(i > 0) & (i < 255) for i in images], axis=0)  # where the law is not cut off at 0 or 255
    half, full = (images[1] - images[0])[unclipped], (images[2] - images[0])[unclipped]
    assert np.abs(half).max() > 5  # the sharpening is there
    assert (full * half).sum() / (half * half).sum() == pytest.approx(2.0, rel=0.03)


@pytest.mark.parametrize("suite", ["bias", "religious_paraphrases", "religious_paraphrases_pilot"])
def test_every_probe_prompt_of_the_religious_suites_is_one_ambiguous_religious_building(suite):
    """A probe names no religion, so the world must pick one: each reads as the ambiguous phrase alone ("house"
    in "a house of worship" is part of the phrase, not a second object)."""
    from harness.toy.vocabulary import read_prompt

    prompts = yaml.safe_load((REPO / f"conf/suite/{suite}.yaml").read_text())["prompts"]
    probes = [p["text"] for p in prompts if not p.get("expected_class")]
    assert probes
    for text in probes:
        reading = read_prompt(text)
        assert reading.ambiguous_religious and reading.nouns == ("religious",), (text, reading)
