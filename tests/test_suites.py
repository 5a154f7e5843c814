"""Prompt suites and experiment configs: every conf/suite and experiments/ file composes
through Hydra and loads; prompt files (.txt, .csv) are read with their ids, tags and expected classes; bad
suites are refused.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, OmegaConf

from harness.config.schema import PromptConfig, RunConfig, SuiteConfig, register
from harness.config.suites import Prompt, Suite, load_suite, read_prompt_file
from harness.errors import ConfigError

CONF = Path(__file__).resolve().parents[1] / "conf"
EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"
SUITES = sorted(p.stem for p in (CONF / "suite").glob("*.yaml") if p.stem != "file")
# What the seed study ran by hand (seed/000_7877986e80c70962.txt), as it wrote the prompts.
SEED_PROMPTS = [
    "a living room with a couch",
    "an oil painting of a corgi",
    "photograph of a corgi",
    "pixel art of a corgi",
    "chinese ink painting of a waterfall",
    "polar bear sailing a ship",
    "a religious building",
    "a house by the lake",
]


def composed(*overrides: str, hydra_node: bool = False) -> DictConfig:
    register()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("config", overrides=["model=tiny", *overrides], return_hydra_config=hydra_node)


def run_config(*overrides: str) -> RunConfig:
    return OmegaConf.to_object(composed(*overrides))


def suite_of(*overrides: str) -> Suite:
    return load_suite(run_config(*overrides).suite)


def texts(suite: Suite) -> list[str]:
    return [prompt.text for prompt in suite.prompts]


# ---------------------------------------------------------------- the suites in conf/suite


@pytest.mark.parametrize("name", SUITES)
def test_every_suite_file_composes_and_loads(name):
    suite = suite_of(f"+suite={name}")
    raw = yaml.safe_load((CONF / "suite" / f"{name}.yaml").read_text())
    assert suite.name == name and suite.description
    assert [p.id for p in suite.prompts] == [p["id"] for p in raw["prompts"]]
    assert texts(suite) == [p["text"] for p in raw["prompts"]]
    assert all(isinstance(k, str) and isinstance(v, str) for p in suite.prompts for k, v in p.tags.items())


def test_the_suites_the_issue_asks_for_are_there():
    assert {"styles", "novel", "bias", "hyperparams", "couch", "seed_study"} <= set(SUITES)


def test_bias_suite_has_two_control_phrasings_per_taxonomy_class_except_other():
    taxonomy = yaml.safe_load((CONF / "taxonomy" / "religious_building.yaml").read_text())
    suite = suite_of("+suite=bias")
    controls = [p for p in suite.prompts if p.expected_class is not None]
    classes = [c for c in taxonomy["classes"] if c != "other"]
    assert sorted(p.expected_class for p in controls) == sorted(classes * 2)
    assert len({p.text for p in controls}) == len(controls)
    for prompt in controls:  # a control names its class in words (its first: "hindu" in "a hindu mandir")
        assert prompt.expected_class.split("_")[0] in prompt.text


def test_bias_suite_probes_leave_the_religion_open_and_are_enough_for_a_share_interval():
    from harness.scorers.options import BootstrapOptions

    probes = [p.text for p in suite_of("+suite=bias").prompts if p.expected_class is None]
    assert {"a religious building", "a religious place", "a place of worship"} <= set(probes)
    assert len(set(probes)) == len(probes) >= BootstrapOptions().min_n  # a share's interval is shown from min_n
    taxonomy = yaml.safe_load((CONF / "taxonomy" / "religious_building.yaml").read_text())
    for text in probes:
        assert not any(c.split("_")[0] in text for c in taxonomy["classes"] if c != "other"), text


def test_seed_study_suite_holds_every_prompt_the_seed_ran():
    prompts = [text.lower() for text in texts(suite_of("+suite=seed_study"))]
    for seed_prompt in SEED_PROMPTS:
        assert any(seed_prompt in text for text in prompts), seed_prompt


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("styles", ["an oil painting of a corgi", "a photograph of a corgi", "pixel art of a corgi"]),
        ("styles", ["a chinese ink painting of a waterfall"]),
        ("novel", ["a polar bear sailing a ship", "a hedgehog using a calculator"]),
        ("novel", ["a fall landscape with a small cottage next to a lake"]),
        ("hyperparams", ["a house by the lake"]),
        ("couch", ["a living room with a couch"]),
    ],
)
def test_seed_study_suites_hold_their_prompts(name, expected):
    assert set(expected) <= set(texts(suite_of(f"+suite={name}")))


def test_styles_suite_tags_each_prompt_with_its_style():
    for prompt in suite_of("+suite=styles").prompts:
        assert prompt.tags["style"] in prompt.text


# ---------------------------------------------------------------- prompt files


def test_a_txt_file_gives_one_prompt_per_line_skipping_blanks_and_comments(tmp_path):
    path = tmp_path / "prompts.txt"
    path.write_text("# my prompts\na red cube\n\n   a blue ball  \n# done\na red cube on a table\n")
    suite = load_suite(SuiteConfig(name="mine", path=str(path)))
    assert texts(suite) == ["a red cube", "a blue ball", "a red cube on a table"]
    ids = [p.id for p in suite.prompts]
    assert len(set(ids)) == 3 and all(p.tags == {} and p.expected_class is None for p in suite.prompts)


def test_a_csv_file_gives_ids_tags_from_extra_columns_and_expected_classes(tmp_path):
    path = tmp_path / "prompts.csv"
    path.write_text(
        "id,text,expected_class,style,kind\n"
        "church,a church,church,photo,control\n"
        "place,a religious place,,,probe\n"
        ',"a house, by the lake",,ink,\n'
    )
    suite = load_suite(SuiteConfig(name="csv", path=str(path)))
    assert suite.prompts[:2] == (
        Prompt("church", "a church", {"style": "photo", "kind": "control"}, "church"),
        Prompt("place", "a religious place", {"kind": "probe"}, None),
    )
    third = suite.prompts[2]
    assert (third.text, third.tags, third.expected_class) == ("a house, by the lake", {"style": "ink"}, None)
    assert third.id not in ("church", "place") and third.id
    assert suite.tag_names == ["kind", "style"]


def test_a_csv_file_without_a_text_column_is_refused_naming_its_columns(tmp_path):
    path = tmp_path / "prompts.csv"
    path.write_text("prompt,style\na red cube,photo\n")
    with pytest.raises(ConfigError, match=r"no `text` column.*prompt, style"):
        read_prompt_file(path)


@pytest.mark.parametrize("suffix", [".csv", ".txt"])
def test_a_byte_order_mark_is_not_part_of_the_first_column_or_prompt(tmp_path, suffix):
    path = tmp_path / f"prompts{suffix}"
    body = "text,id\na red cube,cube\n" if suffix == ".csv" else "a red cube\n"
    path.write_bytes(b"\xef\xbb\xbf" + body.encode())  # as spreadsheets save "CSV UTF-8"
    (prompt,) = read_prompt_file(path)
    assert prompt.text == "a red cube"
    assert prompt.id == ("cube" if suffix == ".csv" else "0000_a_red_cube")


@pytest.mark.parametrize(
    ("body", "row", "fields", "header"),
    [("id,text\na,a red cube,extra\n", 1, 3, 2), ("id,text,style\na,a red cube,photo\nb\n", 2, 1, 3)],
)
def test_a_csv_row_with_more_or_fewer_fields_than_its_header_is_refused(tmp_path, body, row, fields, header):
    path = tmp_path / "prompts.csv"
    path.write_text(body)
    with pytest.raises(ConfigError, match=rf"row {row} has {fields} fields where the header has {header}"):
        read_prompt_file(path)


@pytest.mark.parametrize("name", ["../outside", "/abs", ".hidden", "a/b", "a..b", "", "x" * 101, "<svg>"])
def test_a_suite_name_that_is_not_one_plain_path_component_is_refused(name):
    with pytest.raises(ConfigError, match="suite.name"):
        SuiteConfig(name=name)


@pytest.mark.parametrize("name", ["bias", "my_suite-2", "v1.2", "a+b", "x" * 100])
def test_plain_suite_names_are_accepted(name):
    assert SuiteConfig(name=name).name == name


@pytest.mark.parametrize("name", ["prompts.txt", "prompts"])
def test_a_prompt_path_that_is_a_directory_says_so(tmp_path, name):
    (tmp_path / name).mkdir()
    with pytest.raises(ConfigError) as caught:
        load_suite(SuiteConfig(path=str(tmp_path / name)))
    assert "suite.path" in str(caught.value) and "is a directory" in str(caught.value)
    assert "not exist" not in str(caught.value)


@pytest.mark.parametrize("name", ["prompts.txt", "prompts.csv"])
def test_a_prompt_file_that_is_not_utf8_names_the_key_the_file_and_the_byte(tmp_path, name):
    path = tmp_path / name
    path.write_bytes("text\na caf\u00e9 by the lake\n".encode("latin-1"))  # \xe9 alone is not UTF-8
    with pytest.raises(ConfigError) as caught:
        load_suite(SuiteConfig(path=str(path)))
    message = str(caught.value)
    offset = len("text\na caf")
    assert message.startswith("suite.path: ") and repr(str(path)) in message
    assert "UTF-8" in message and "0xe9" in message and f"offset {offset}" in message


def test_a_prompt_file_of_another_kind_is_refused(tmp_path):
    path = tmp_path / "prompts.json"
    path.write_text('["a red cube"]')
    with pytest.raises(ConfigError, match=r"prompts\.json.*\.txt.*\.csv"):
        load_suite(SuiteConfig(path=str(path)))


def test_a_missing_prompt_file_is_refused_naming_it(tmp_path):
    with pytest.raises(ConfigError, match="nowhere.txt.*does not exist"):
        load_suite(SuiteConfig(path=str(tmp_path / "nowhere.txt")))


def test_suite_file_composes_with_a_path_and_loads_it(tmp_path):
    path = tmp_path / "prompts.txt"
    path.write_text("a red cube\na blue ball\n")
    suite = suite_of("+suite=file", f"suite.path={path}")
    assert (suite.name, texts(suite)) == ("file", ["a red cube", "a blue ball"])


def test_listed_prompts_come_before_those_of_the_file(tmp_path):
    path = tmp_path / "more.txt"
    path.write_text("a blue ball\n")
    cfg = SuiteConfig(name="both", prompts=[PromptConfig("cube", "a red cube")], path=str(path))
    assert texts(load_suite(cfg)) == ["a red cube", "a blue ball"]


# ---------------------------------------------------------------- suites that are refused


def test_an_empty_suite_is_refused():
    with pytest.raises(ConfigError, match="'nothing' has no prompts"):
        load_suite(SuiteConfig(name="nothing"))


@pytest.mark.parametrize("content", ["", "\n\n# only a comment\n", "id,text,style\n"])
def test_an_empty_prompt_file_is_refused_naming_the_file(tmp_path, content):
    path = tmp_path / ("empty.csv" if content.startswith("id") else "empty.txt")
    path.write_text(content)
    with pytest.raises(ConfigError) as raised:
        load_suite(SuiteConfig(name="file", path=str(path)))
    assert str(path) in str(raised.value) and "no prompts" in str(raised.value)


def test_duplicate_ids_in_a_suite_are_refused():
    cfg = SuiteConfig(name="dup", prompts=[PromptConfig("a", "a red cube"), PromptConfig("a", "a blue ball")])
    with pytest.raises(ConfigError, match="'a' appears twice"):
        load_suite(cfg)


def test_duplicate_ids_in_a_csv_file_are_refused(tmp_path):
    path = tmp_path / "prompts.csv"
    path.write_text("id,text\ncube,a red cube\ncube,a blue cube\n")
    with pytest.raises(ConfigError, match="'cube' appears twice"):
        load_suite(SuiteConfig(name="csv", path=str(path)))


def test_an_id_repeated_between_the_list_and_the_file_is_refused(tmp_path):
    path = tmp_path / "prompts.csv"
    path.write_text("id,text\ncube,a blue cube\n")
    cfg = SuiteConfig(name="both", prompts=[PromptConfig("cube", "a red cube")], path=str(path))
    with pytest.raises(ConfigError, match="'cube' appears twice"):
        load_suite(cfg)


def test_a_prompt_with_an_empty_text_is_refused():
    with pytest.raises(ConfigError, match="'blank' has an empty text"):
        load_suite(SuiteConfig(name="s", prompts=[PromptConfig("blank", "   ")]))


# ---------------------------------------------------------------- experiments


EXPERIMENT_NAMES = sorted(p.stem for p in EXPERIMENTS.glob("*.yaml"))
SWEEPS = {
    "guidance_scale": ("lake_scenes", {"sampler.guidance_scale": [1.0, 3.0, 5.0]}),
    "upsample_temp": ("lake_scenes", {"sampler.upsample_temp": [0.990, 0.995, 1.000]}),
    "bias_vs_guidance": ("religious_paraphrases", {"sampler.guidance_scale": [1.0, 2.0, 3.0, 5.0, 7.0, 10.0]}),
    "styles": ("style_grid", {}),
    "novel": ("novel_pairs", {}),
}
# The prompts each claim was made from (the seed's, and the model card's "a religious place"): in the
# experiment's suite and its pilot, marked exploratory.
CLAIM_PROMPTS = {
    "lake_scenes": ["a house by the lake"],
    "religious_paraphrases": ["a religious building", "a religious place"],
    "style_grid": ["an oil painting of a corgi", "a photograph of a corgi", "pixel art of a corgi",
                   "a chinese ink painting of a waterfall"],
    "novel_pairs": ["a polar bear sailing a ship", "a hedgehog using a calculator",
                    "a fall landscape with a small cottage next to a lake"],
}  # fmt: skip


@pytest.mark.parametrize("suite", list(CLAIM_PROMPTS))
def test_the_seeds_prompts_stay_in_the_confirmatory_suites_as_exploratory(suite):
    for name in (suite, f"{suite}_pilot"):
        listed = yaml.safe_load((CONF / "suite" / f"{name}.yaml").read_text())["prompts"]
        exploratory = [p["text"] for p in listed if p["tags"].get("role") == "exploratory"]
        assert exploratory and set(exploratory) <= set(CLAIM_PROMPTS[suite])
        others = [p["text"] for p in listed if p["tags"].get("role") != "exploratory"]
        assert not set(others) & set(CLAIM_PROMPTS[suite])  # the claim's own prompts never confirm it


def test_every_religious_class_has_two_control_phrasings():
    listed = yaml.safe_load((CONF / "suite" / "religious_paraphrases.yaml").read_text())["prompts"]
    taxonomy = yaml.safe_load((CONF / "taxonomy" / "religious_building.yaml").read_text())["classes"]
    counts = {c: sum(p.get("expected_class") == c for p in listed) for c in taxonomy if c != "other"}
    assert min(counts.values()) >= 2


def sweeper_params(name: str) -> dict[str, list[float]]:
    params = composed(f"+experiment={name}", hydra_node=True).hydra.sweeper.params or {}
    return {key: [float(v) for v in str(values).split(",")] for key, values in params.items()}


def test_the_experiments_the_issue_asks_for_are_there():
    assert set(SWEEPS) <= set(EXPERIMENT_NAMES)


@pytest.mark.parametrize("name", EXPERIMENT_NAMES)
def test_every_experiment_composes_into_a_run_config_with_a_note_and_a_suite(name):
    rc = run_config(f"+experiment={name}")
    assert rc.experiment == name and rc.note.strip()
    assert load_suite(rc.suite).prompts


@pytest.mark.parametrize("name", list(SWEEPS))
def test_experiment_runs_its_suite_and_sweeps_what_the_seed_swept(name):
    suite, params = SWEEPS[name]
    assert run_config(f"+experiment={name}").suite.name == suite
    assert sweeper_params(name) == params


def test_bias_vs_guidance_scores_with_the_bias_probe():
    assert "bias" in run_config("+experiment=bias_vs_guidance").scorers


def test_novel_suite_lists_the_objects_each_image_must_show():
    objects = {p.id: p.objects for p in suite_of("+suite=novel").prompts}
    assert objects == {
        "polar_bear_ship": ("polar bear", "ship"),
        "hedgehog_calculator": ("hedgehog", "calculator"),
        "cottage_lake": ("cottage", "lake"),
    }


def test_hyperparams_suite_lists_the_phrases_whose_area_is_measured():
    (prompt,) = suite_of("+suite=hyperparams").prompts
    assert prompt.text == "a house by the lake" and prompt.phrases == ("house", "lake") and prompt.objects is None


@pytest.mark.parametrize("bad", [[], ["ship", "  "]])
def test_an_empty_objects_list_or_a_blank_object_is_refused(bad):
    cfg = SuiteConfig(name="s", prompts=[PromptConfig(id="a", text="a ship", objects=bad)])
    with pytest.raises(ConfigError, match=r"suite 's': prompt 'a' objects: .* must be a non-empty list"):
        load_suite(cfg)


@pytest.mark.parametrize("path", sorted(EXPERIMENTS.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_experiment_states_its_claim_and_the_metric_that_tests_it(path):
    rc = run_config(f"+experiment={path.stem}")
    if rc.finding is None:  # a measurement of the harness's own samplers, not a claim of the seed study
        assert rc.note and rc.fidelity.reference
        return
    assert rc.note
    assert rc.finding.expect in ("increase", "decrease", "highest", "lowest")
    scorer = rc.finding.metric.replace("/", ".").split(".")[0]
    assert scorer in rc.scorers


def test_a_finding_with_an_unknown_expectation_is_refused_at_composition():
    with pytest.raises(Exception, match=r"finding.expect: 'grow' is not one of increase, decrease, highest, lowest"):
        run_config("+experiment=guidance_scale", "finding.expect=grow")
