"""Specification of harness.tracking: real wandb in offline mode, with its run files read back from disk.
Expected values come from the test's own inputs (PNG bytes hashed with hashlib, scores averaged with NumPy).
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf
from PIL import Image
from wandb_files import WANDB_VARIABLES, offline_runs, staged_table_json, table_json

from harness.analysis.sweep import log_sweep_summary, sweep_charts
from harness.run.rundir import RunDir, write_results
from harness.tracking import flatten_config, register_schemas
from harness.tracking.wandb_tracker import WandbConfig, open_run, resolve_mode, samples_table

REPO = Path(__file__).resolve().parents[1]
N_SAMPLES = 5
SCORES = [0.31, 0.27, float("nan"), 0.22, 0.35]  # one sample the scorer could not score
STYLES = ["oil painting", "photograph", None, "pixel art", "oil painting"]  # one prompt without the tag
SAMPLER = {"guidance_scale": 3.0, "base_steps": "100", "upsample_steps": "fast27", "upsample_temp": 0.997}
NESTED_CONFIG = {
    "sampler": SAMPLER,
    "model": {"id": "tiny", "random_weights": True},
    "suite": {"name": "styles"},
}
TRACKING_LOGGER = "harness.tracking.wandb_tracker"


def sandbox_environment(patch: pytest.MonkeyPatch, home: Path) -> None:
    for name in WANDB_VARIABLES:
        patch.delenv(name, raising=False)
    patch.setenv("WANDB_SILENT", "true")
    patch.setenv("NETRC", str(home / "netrc"))  # absent: no login from a netrc file
    for variable, folder in [
        ("WANDB_CONFIG_DIR", "config"),
        ("WANDB_CACHE_DIR", "cache"),
        ("WANDB_DATA_DIR", "data"),
    ]:
        (home / folder).mkdir(parents=True, exist_ok=True)
        patch.setenv(variable, str(home / folder))


@pytest.fixture(scope="module", autouse=True)
def clean_wandb_process_state():
    """wandb keeps process-wide state (settings read from the environment once, the session login):
    start this module from a clean state and leave one behind for the next module."""
    import wandb

    wandb.teardown()
    yield
    wandb.teardown()


@pytest.fixture
def forget_wandb_login():
    """An online attempt stores its login (and server) for the whole process: drop it afterwards."""
    import wandb

    yield
    wandb.teardown()


@pytest.fixture(autouse=True)
def wandb_sandbox(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path_factory.getbasetemp() / "wandb_home"
    sandbox_environment(monkeypatch, home)
    return home


def offline_run(wandb_parent: Path) -> SimpleNamespace:
    """The single offline run under `<wandb_parent>/wandb/`."""
    (run,) = offline_runs(wandb_parent)
    return run


def write_png(path: Path, size: int, seed: int) -> Path:
    pixels = np.random.default_rng(seed).integers(0, 256, size=(size, size, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def make_results(store: Path) -> pd.DataFrame:
    """A results table as the runner writes it: the manifest columns plus one score column."""
    store.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(N_SAMPLES):
        rows.append(
            {
                "key": f"k{i:02d}",
                "base_key": f"b{i:02d}",
                "suite": "styles",
                "prompt_id": f"p{i % 2}",
                "prompt": f"a corgi, variant {i}",
                "expected_class": None,
                "tag.style": STYLES[i],
                "seed": 100 + i,
                **SAMPLER,
                "model_id": "tiny",
                "random_weights": True,
                "path_64": str(write_png(store / f"k{i:02d}_64.png", 64, seed=i)),
                "path_256": str(write_png(store / f"k{i:02d}_256.png", 256, seed=50 + i)),
                "time_base_s": 0.5 + i,
                "time_up_s": 1.5 + i,
                "clip.score": SCORES[i],
            }
        )
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def logged_run(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """One run logged in "auto" mode with no login anywhere (so offline), then read back from disk."""
    root = tmp_path_factory.mktemp("logged_run")
    with pytest.MonkeyPatch.context() as patch:
        sandbox_environment(patch, tmp_path_factory.getbasetemp() / "wandb_home")
        results = make_results(root / "store")
        per_prompt = pd.DataFrame({"prompt_id": ["p0", "p1"], "n": [3, 2], "score_mean": [0.29, 0.245]})
        metrics = {"clip/score_mean": float(np.nanmean(SCORES)), "bias/p_church": None}
        run_dir = root / "run"
        tracker = open_run(
            WandbConfig(mode="auto"),
            run_dir=run_dir,
            name="styles-tiny",
            group="art_styles",
            job_type="run",
            config=NESTED_CONFIG,
            tags=["styles", "tiny", "random-weights"],
        )
        with tracker:
            sync_dir = tracker.sync_dir
            tracker.log_results(results, metrics, {"clip/per_prompt": per_prompt})
        return SimpleNamespace(
            run_dir=run_dir,
            sync_dir=sync_dir,
            results=results,
            per_prompt=per_prompt,
            metrics=metrics,
            files=offline_run(run_dir),
        )


def test_auto_mode_without_a_login_writes_an_offline_run_inside_the_run_dir(logged_run):
    assert logged_run.files.dir.parent == logged_run.run_dir / "wandb"
    assert logged_run.sync_dir == logged_run.files.dir


def test_run_carries_project_name_group_job_type_and_tags(logged_run):
    run = logged_run.files.run
    assert (run.project, run.display_name, run.run_group, run.job_type) == (
        "glide-eval",
        "styles-tiny",
        "art_styles",
        "run",
    )
    assert list(run.tags) == ["styles", "tiny", "random-weights"]


def test_config_is_logged_flat_with_dotted_keys(logged_run):
    assert logged_run.files.config == {
        "sampler.guidance_scale": 3.0,
        "sampler.base_steps": "100",
        "sampler.upsample_steps": "fast27",
        "sampler.upsample_temp": 0.997,
        "model.id": "tiny",
        "model.random_weights": True,
        "suite.name": "styles",
    }


def test_summary_holds_each_metric_under_its_own_name(logged_run):
    summary = logged_run.files.summary
    assert summary["clip/score_mean"] == pytest.approx((0.31 + 0.27 + 0.22 + 0.35) / 4)
    assert summary["bias/p_church"] is None


def test_samples_table_has_one_row_per_sample_and_every_results_column(logged_run):
    table = table_json(logged_run.files, "samples")
    results = logged_run.results
    non_path = [column for column in results.columns if column not in ("path_64", "path_256")]
    assert table["columns"] == ["image_256", "image_64", *non_path]
    assert len(table["data"]) == N_SAMPLES
    rows = [dict(zip(table["columns"], row, strict=True)) for row in table["data"]]
    assert [row["prompt"] for row in rows] == [f"a corgi, variant {i}" for i in range(N_SAMPLES)]
    assert [row["seed"] for row in rows] == [100, 101, 102, 103, 104]
    assert [row["tag.style"] for row in rows] == STYLES
    assert all(row["guidance_scale"] == 3.0 and row["upsample_temp"] == 0.997 for row in rows)
    assert all(row["base_steps"] == "100" and row["upsample_steps"] == "fast27" for row in rows)
    # JSON has no NaN: the unscored sample is an empty cell, the others keep their scores.
    assert [row["clip.score"] for row in rows] == [0.31, 0.27, None, 0.22, 0.35]


def test_samples_table_images_are_the_sample_pngs(logged_run):
    table = staged_table_json(logged_run.files, "samples")
    columns = table["columns"]
    for row, (_, sample) in zip(table["data"], logged_run.results.iterrows(), strict=True):
        for column, path_column, size in [("image_256", "path_256", 256), ("image_64", "path_64", 64)]:
            cell = row[columns.index(column)]
            assert cell["_type"] == "image-file"
            assert (cell["width"], cell["height"]) == (size, size)
            assert cell["sha256"] == hashlib.sha256(Path(sample[path_column]).read_bytes()).hexdigest()


def test_extra_tables_are_logged_under_their_own_names(logged_run):
    table = table_json(logged_run.files, "clip/per_prompt")
    assert logged_run.files.summary["clip/per_prompt/_type"] == "table-file"
    assert table["columns"] == ["prompt_id", "n", "score_mean"]
    assert table["data"] == [["p0", 3, 0.29], ["p1", 2, 0.245]]


def test_disabled_mode_writes_no_wandb_files(tmp_path):
    tracker = open_run(
        WandbConfig(mode="disabled"),
        run_dir=tmp_path,
        name="n",
        group=None,
        job_type="run",
        config={},
        tags=[],
    )
    with tracker:
        tracker.log_results(pd.DataFrame({"prompt": ["x"]}), {"clip/score_mean": 0.3}, {})
    assert not tracker.active
    assert list(tmp_path.iterdir()) == []


def write_results_first(run_dir: Path) -> bytes:
    """A scored run on disk before W&B starts, as the score step leaves it; the bytes of its results file."""
    results = pd.DataFrame({"prompt": ["a red cube"], "clip.score": [0.25]})
    write_results(run_dir, results, {"clip/score_mean": 0.25}, {}, [], {})
    return RunDir(run_dir).results_file.read_bytes()


def tracking_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == TRACKING_LOGGER]


def test_a_bad_api_key_is_one_warning_and_the_results_on_disk_stay(tmp_path, monkeypatch, caplog, forget_wandb_login):
    run_dir = tmp_path / "run"
    written = write_results_first(run_dir)
    monkeypatch.setenv("WANDB_API_KEY", "not-a-key")
    with caplog.at_level(logging.WARNING, logger=TRACKING_LOGGER):
        tracker = open_run(
            WandbConfig(mode="online"),
            run_dir=run_dir,
            name="n",
            group="g",
            job_type="run",
            config={},
            tags=[],
        )
        with tracker:
            tracker.log_results(RunDir(run_dir).results(), {"clip/score_mean": 0.25}, {})
    assert not tracker.active
    (warning,) = tracking_warnings(caplog)
    assert warning.levelno == logging.WARNING and "W&B" in warning.getMessage()
    assert RunDir(run_dir).results_file.read_bytes() == written


def closed_local_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_unreachable_server_gives_up_after_init_timeout_with_one_warning(
    tmp_path, monkeypatch, caplog, forget_wandb_login
):
    run_dir = tmp_path / "run"
    written = write_results_first(run_dir)
    monkeypatch.setenv("WANDB_API_KEY", "0" * 40)  # well formed, so wandb tries the server
    cfg = WandbConfig(mode="online", host=f"http://127.0.0.1:{closed_local_port()}", init_timeout_s=1.0)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger=TRACKING_LOGGER):
        tracker = open_run(cfg, run_dir=run_dir, name="n", group="g", job_type="run", config={}, tags=[])
    assert time.monotonic() - started < cfg.init_timeout_s + 10
    assert not tracker.active
    assert len(tracking_warnings(caplog)) == 1
    assert RunDir(run_dir).results_file.read_bytes() == written


def test_an_exception_inside_the_with_block_marks_the_run_failed(tmp_path):
    cfg = WandbConfig(mode="offline")
    with (
        pytest.raises(RuntimeError, match="scorer crashed"),
        open_run(cfg, run_dir=tmp_path, name="n", group="g", job_type="run", config={}, tags=[]),
    ):
        raise RuntimeError("scorer crashed")
    (exit_record,) = offline_run(tmp_path).by_type["exit"]
    assert exit_record.exit.exit_code == 1


GUIDANCE = [1.0, 1.0, 5.0, 5.0]
TEMPERATURE = ["0.99", "1.0", "0.99", "1.0"]  # overrides as Hydra gives them: strings
CLIP_MEANS = [0.21, 0.23, 0.26, float("nan")]  # the last job could not be scored


def sweep_frame(sweep_dir: Path) -> pd.DataFrame:
    """A 2x2 guidance x temperature sweep summary, with a suite override that is the same in every job."""
    return pd.DataFrame(
        {
            "job": [0, 1, 2, 3],
            "run_dir": [str(sweep_dir / str(job)) for job in range(4)],
            "suite": ["bias"] * 4,
            "sampler.guidance_scale": GUIDANCE,
            "sampler.upsample_temp": TEMPERATURE,
            "clip/score_mean": CLIP_MEANS,
            "bias/majority_class": ["church"] * 4,
        }
    )


@pytest.fixture(scope="module")
def logged_sweep(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """A sweep summary logged offline with one plot PNG, then read back from disk."""
    sweep_dir = tmp_path_factory.mktemp("sweep")
    with pytest.MonkeyPatch.context() as patch:
        sandbox_environment(patch, tmp_path_factory.getbasetemp() / "wandb_home")
        summary = sweep_frame(sweep_dir)
        plot = write_png(sweep_dir / "clip_vs_guidance.png", 32, seed=7)
        log_sweep_summary(
            WandbConfig(mode="offline"),
            sweep_dir=sweep_dir,
            summary=summary,
            group="guidance_x_temp",
            images={"plots/clip_vs_guidance": plot},
        )
        return SimpleNamespace(sweep_dir=sweep_dir, summary=summary, plot=plot, files=offline_run(sweep_dir))


def test_sweep_summary_is_one_run_of_its_own_job_type_in_the_group(logged_sweep):
    run = logged_sweep.files.run
    assert (run.job_type, run.run_group, run.display_name) == (
        "sweep-summary",
        "guidance_x_temp",
        "guidance_x_temp-summary",
    )


def test_sweep_summary_table_has_one_row_per_job(logged_sweep):
    table = table_json(logged_sweep.files, "sweep_summary")
    sweep_dir = logged_sweep.sweep_dir
    assert table["columns"] == list(logged_sweep.summary.columns)
    assert table["data"] == [
        [job, str(sweep_dir / str(job)), "bias", GUIDANCE[job], TEMPERATURE[job], mean, "church"]
        for job, mean in enumerate([0.21, 0.23, 0.26, None])
    ]


def test_sweep_summary_logs_the_report_plots_as_images(logged_sweep):
    files = logged_sweep.files
    assert files.summary["plots/clip_vs_guidance/_type"] == "image-file"
    logged_plot = files.dir / "files" / files.summary["plots/clip_vs_guidance/path"]
    assert logged_plot.read_bytes() == logged_sweep.plot.read_bytes()


def test_sweep_summary_has_a_line_chart_per_numeric_metric_and_swept_parameter(logged_sweep):
    charts = logged_sweep.files.charts
    assert sorted(charts) == [
        "clip/score_mean_vs_sampler.guidance_scale",
        "clip/score_mean_vs_sampler.upsample_temp",
    ]
    chart = charts["clip/score_mean_vs_sampler.guidance_scale"]["panel_config"]
    assert chart["panelDefId"] == "wandb/line/v0"
    assert chart["fieldSettings"] == {"x": "sampler.guidance_scale", "y": "clip/score_mean", "stroke": "series"}


def test_sweep_chart_data_has_one_line_per_value_of_the_other_parameter(logged_sweep):
    by_guidance = table_json(logged_sweep.files, "clip/score_mean_vs_sampler.guidance_scale_table")
    assert by_guidance["columns"] == ["sampler.guidance_scale", "clip/score_mean", "series"]
    # The unscored job (guidance 5, temperature 1.0) is left out rather than drawn at zero.
    assert by_guidance["data"] == [
        [1.0, 0.21, "sampler.upsample_temp=0.99"],
        [5.0, 0.26, "sampler.upsample_temp=0.99"],
        [1.0, 0.23, "sampler.upsample_temp=1"],
    ]
    by_temperature = table_json(logged_sweep.files, "clip/score_mean_vs_sampler.upsample_temp_table")
    assert by_temperature["data"] == [
        [0.99, 0.21, "sampler.guidance_scale=1"],
        [1.0, 0.23, "sampler.guidance_scale=1"],
        [0.99, 0.26, "sampler.guidance_scale=5"],
    ]


def test_a_single_swept_parameter_gives_one_line_for_all_jobs():
    summary = pd.DataFrame({"job": [0, 1], "sampler.guidance_scale": ["3", "1"], "clip/score_mean": [0.3, 0.2]})
    (name, chart), *rest = sweep_charts(summary).items()
    assert not rest and name == "clip/score_mean_vs_sampler.guidance_scale"
    assert chart.frame.values.tolist() == [[1.0, 0.2, "all jobs"], [3.0, 0.3, "all jobs"]]


def test_a_metric_never_computed_gets_no_chart():
    summary = pd.DataFrame({"sampler.guidance_scale": [1.0, 3.0], "fid/fid": [float("nan")] * 2})
    assert sweep_charts(summary) == {}


def test_auto_mode_is_offline_without_a_login():
    assert resolve_mode("auto") == "offline"


def test_auto_mode_is_online_with_an_api_key_in_the_environment(monkeypatch):
    monkeypatch.setenv("WANDB_API_KEY", "0" * 40)
    assert resolve_mode("auto") == "online"


def test_auto_mode_is_online_with_a_netrc_login_for_the_host(tmp_path, monkeypatch):
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine wandb.example.org\n  login user\n  password {'1' * 40}\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    assert resolve_mode("auto", host="https://wandb.example.org") == "online"
    assert resolve_mode("auto", host="https://other.example.org") == "offline"


def test_auto_mode_follows_wandb_mode_when_set(monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert resolve_mode("auto") == "disabled"
    assert resolve_mode("offline") == "offline"  # an explicit mode wins over the environment


def test_a_bad_mode_names_the_value_and_the_allowed_ones():
    with pytest.raises(ValueError, match=r"'sometimes'.*auto, online, offline, disabled"):
        WandbConfig(mode="sometimes")


@pytest.mark.parametrize(
    ("field", "value", "allowed"),
    [("project", "", "a non-empty string"), ("init_timeout_s", 0, "a positive number")],
)
def test_a_bad_logger_value_names_the_key_the_value_and_what_is_allowed(field, value, allowed):
    with pytest.raises(ValueError, match=rf"^logger\.{field}: {value!r} must be {allowed}"):
        WandbConfig(**{field: value})


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("logger.projekt=x", "projekt"),
        ("logger.init_timeout_s=soon", "init_timeout_s"),
        ("logger.log_64px=maybe", "log_64px"),
    ],
)
def test_a_wrong_logger_key_or_type_fails_when_hydra_composes(logger_conf_dir, override, message):
    from hydra import compose, initialize_config_dir
    from hydra.errors import ConfigCompositionException

    register_schemas()
    with (
        initialize_config_dir(config_dir=str(logger_conf_dir), version_base="1.3"),
        pytest.raises(ConfigCompositionException) as err,
    ):
        compose(config_name="config", overrides=[override])
    assert message in str(err.value) + str(err.value.__cause__)


def test_samples_table_keeps_paths_as_strings_when_images_are_off():
    results = pd.DataFrame({"prompt": ["a"], "path_64": ["/s/a_64.png"], "path_256": ["/s/a_256.png"]})
    table = samples_table(results, log_images=False)
    assert table.columns == ["prompt", "path_64", "path_256"]
    assert table.data == [["a", "/s/a_64.png", "/s/a_256.png"]]


def test_samples_table_leaves_a_missing_png_empty_with_a_warning(tmp_path, caplog):
    present = write_png(tmp_path / "a_256.png", 256, seed=1)
    results = pd.DataFrame({"prompt": ["a", "b"], "path_256": [str(present), str(tmp_path / "gone.png")]})
    with caplog.at_level(logging.WARNING, logger=TRACKING_LOGGER):
        table = samples_table(results)
    assert table.columns == ["image_256", "prompt"]
    assert table.data[0][0] is not None and table.data[1][0] is None
    (warning,) = tracking_warnings(caplog)
    assert "gone.png" in warning.getMessage()


def test_flatten_config_joins_nested_keys_with_dots():
    cfg = OmegaConf.create({"a": {"b": 1, "c": {"d": "${a.b}"}}, "e": [1, {"f": 2}], "g": {}, "h": None})
    assert flatten_config(cfg) == {"a.b": 1, "a.c.d": 1, "e": [1, {"f": 2}], "g": {}, "h": None}


def test_flatten_config_rejects_two_spellings_of_one_key():
    with pytest.raises(ValueError, match="'a.b'"):
        flatten_config({"a": {"b": 1}, "a.b": 2})


@pytest.fixture
def logger_conf_dir(tmp_path: Path) -> Path:
    """A primary config that picks the repo's logger group, as the root config does."""
    (tmp_path / "logger").mkdir()
    for name in ("wandb.yaml", "disabled.yaml"):
        (tmp_path / "logger" / name).write_text((REPO / "conf" / "logger" / name).read_text())
    (tmp_path / "config.yaml").write_text("defaults:\n  - logger: wandb\n  - _self_\n")
    return tmp_path


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ([], WandbConfig()),
        (["logger=disabled"], WandbConfig(mode="disabled")),
        (["logger.mode=online", "logger.tags=[study]"], WandbConfig(mode="online", tags=("study",))),
    ],
)
def test_the_logger_config_group_composes_to_logger_config(logger_conf_dir, overrides, expected):
    from hydra import compose, initialize_config_dir

    register_schemas()
    with initialize_config_dir(config_dir=str(logger_conf_dir), version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides)
    assert OmegaConf.to_object(cfg.logger) == expected


def test_logger_config_defaults_follow_the_documented_values():
    cfg = WandbConfig()
    assert (cfg.project, cfg.entity, cfg.mode, cfg.log_images, cfg.log_64px, cfg.dir) == (
        "glide-eval",
        None,
        "auto",
        True,
        True,
        None,
    )


# Logs one offline run, then prints the ids of its own child processes (the wandb service among them).
EXITING_SCRIPT = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    import pandas as pd
    from harness.tracking.wandb_tracker import WandbConfig, open_run

    def parent_of(stat_file):
        return int(stat_file.read_text().rsplit(")", 1)[1].split()[1])

    run = open_run(
        WandbConfig(mode="offline"), run_dir=Path(sys.argv[1]), name="n", group="g", job_type="run",
        config={}, tags=[],
    )
    with run as tracker:
        tracker.log_results(pd.DataFrame({"prompt": ["a"], "clip.score": [0.3]}), {"clip/score_mean": 0.3}, {})
    stats = [path / "stat" for path in Path("/proc").iterdir() if path.name.isdigit()]
    children = [int(stat.parent.name) for stat in stats if stat.exists() and parent_of(stat) == os.getpid()]
    print(" ".join(map(str, children)))
    """
)


def is_running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"  # a zombie has exited and only waits to be reaped


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process state from Linux /proc")
def test_the_process_exits_promptly_and_the_wandb_service_with_it(tmp_path):
    # WANDB_SERVICE points child processes at this process's wandb service; the child must start its own.
    env = {name: value for name, value in os.environ.items() if name != "WANDB_SERVICE"}
    finished = subprocess.run(
        [sys.executable, "-c", EXITING_SCRIPT, str(tmp_path)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert finished.returncode == 0, finished.stderr
    children = [int(pid) for pid in finished.stdout.split()]
    assert children, "the offline run started no wandb service process"
    deadline = time.monotonic() + 15
    while any(map(is_running, children)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(map(is_running, children))
    assert offline_run(tmp_path).by_type["exit"][0].exit.exit_code == 0
