"""W&B tracking of runs and sweeps: config, tags, summary metrics and tables, offline when no login.
Results are already on disk when this runs, so a W&B failure is one warning and a tracker doing nothing.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from harness.errors import ConfigError
from harness.numbers import finite_or_none

if TYPE_CHECKING:
    import wandb

log = logging.getLogger(__name__)

MODES = ("auto", "online", "offline", "disabled")
# wandb's own names for WANDB_MODE values, mapped to ours ("dryrun" and "run" are its legacy spellings).
_ENV_MODES = {
    "online": "online",
    "run": "online",
    "offline": "offline",
    "dryrun": "offline",
    "disabled": "disabled",
}

SAMPLES_TABLE = "samples"
SWEEP_TABLE = "sweep_summary"
SWEEP_JOB_TYPE = "sweep-summary"
# Columns of sweep_summary.parquet that describe a job rather than a swept override or a metric.
SWEEP_JOB_COLUMNS = ("job", "run_dir")
# In a sweep chart, the column naming the line a point belongs to (the other swept values).
SERIES_COLUMN = "series"
# In the samples table a path column becomes an image column of the same resolution.
IMAGE_COLUMNS = {"path_256": "image_256", "path_64": "image_64"}


class LoggerConfigError(ConfigError):
    """A logger setting with a value outside what it allows."""


@dataclass(frozen=True)
class LoggerConfig:
    """Where and how runs are tracked in W&B (mirrors conf/logger/wandb.yaml).

    mode: "auto" (online when wandb finds a login, else offline; WANDB_MODE wins when set), "online",
    "offline" (sync later with `wandb sync <run_dir>/wandb/offline-run-*`) or "disabled".
    host: W&B server URL (null = wandb's default or WANDB_BASE_URL). dir: where W&B writes its files
    (null = the run dir; relative paths are taken from the run dir). tags: added to every run's tags.
    """

    project: str = "glide-eval"
    entity: str | None = None
    mode: str = "auto"
    host: str | None = None
    log_images: bool = True
    log_64px: bool = True
    dir: str | None = None
    init_timeout_s: float = 30.0
    tags: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise LoggerConfigError(f"logger.mode={self.mode!r} is not one of {', '.join(MODES)}")
        if not isinstance(self.project, str) or not self.project:
            raise LoggerConfigError(f"logger.project={self.project!r} must be a non-empty string")
        for name in ("entity", "host", "dir"):
            if not isinstance(getattr(self, name), (str, type(None))):
                raise LoggerConfigError(f"logger.{name}={getattr(self, name)!r} must be a string or null")
        for name in ("log_images", "log_64px"):
            if not isinstance(getattr(self, name), bool):
                raise LoggerConfigError(f"logger.{name}={getattr(self, name)!r} must be true or false")
        timeout = self.init_timeout_s
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
            raise LoggerConfigError(f"logger.init_timeout_s={timeout!r} must be a positive number of seconds")
        tags = (self.tags,) if isinstance(self.tags, str) else tuple(self.tags or ())
        object.__setattr__(self, "tags", tuple(str(tag) for tag in tags))

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> LoggerConfig:
        """Build from a config node (a dict or an OmegaConf DictConfig); `_target_` is ignored."""
        allowed = {field.name for field in fields(cls)}
        given = {str(key): value for key, value in values.items() if key != "_target_"}
        unknown = sorted(set(given) - allowed)
        if unknown:
            raise LoggerConfigError(
                f"unknown logger key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}"
            )
        return cls(**given)


def flatten_config(cfg: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings -> one dict with dotted keys ({"a": {"b": 1}} -> {"a.b": 1}).

    Sequences become lists (their mappings plain dicts); an empty mapping stays as the value {} so that
    no key disappears. Two spellings of one key ({"a": {"b": 1}, "a.b": 2}) raise ValueError.
    """
    flat: dict[str, Any] = {}
    for key, value in cfg.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and len(value) > 0:
            items = flatten_config(value, prefix=f"{name}.").items()
        else:
            items = [(name, _plain(value))]
        for flat_key, flat_value in items:
            if flat_key in flat:
                raise ValueError(f"config key {flat_key!r} appears twice after flattening to dotted keys")
            flat[flat_key] = flat_value
    return flat


def _plain(value: Any) -> Any:
    """Containers from OmegaConf/NumPy as plain Python values for W&B config."""
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)) or type(value).__name__ == "ListConfig":
        return [_plain(item) for item in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def resolve_mode(mode: str, host: str | None = None) -> str:
    """Configured mode -> the mode W&B runs in ("online", "offline" or "disabled"); no network call.

    "auto" takes WANDB_MODE when it is set, else online exactly when a login for `host` is found.
    """
    if mode not in MODES:
        raise LoggerConfigError(f"logger.mode={mode!r} is not one of {', '.join(MODES)}")
    if mode != "auto":
        return mode
    env_mode = os.environ.get("WANDB_MODE", "").strip().lower()
    if env_mode in _ENV_MODES:
        return _ENV_MODES[env_mode]
    return "online" if has_credentials(host) else "offline"


def has_credentials(host: str | None = None) -> bool:
    """Whether wandb's own lookup (env, settings file, netrc) finds a login for `host`; no network call.

    A key that is present but malformed counts as a login: the online attempt then fails with a warning
    that names the bad key, rather than the run quietly going offline.
    """
    import wandb

    try:
        from wandb.sdk import wandb_setup
        from wandb.sdk.lib import wbauth
    except ImportError:  # releases before the wbauth module: the legacy lookup
        return bool(wandb.api.api_key)
    url = host or wandb_setup.singleton().settings.base_url
    try:
        found = wbauth.authenticate_session(host=url, source="glide-eval", prompt=False, update_session=False)
    except wandb.errors.AuthenticationError:
        return True
    return found is not None


class RunTracker:
    """One W&B run (or nothing, when tracking is off or failed); every W&B error becomes a warning."""

    def __init__(self, run: wandb.Run | None = None, cfg: LoggerConfig | None = None) -> None:
        self._run = run
        self._cfg = cfg or LoggerConfig()

    @property
    def active(self) -> bool:
        """True while a W&B run is open."""
        return self._run is not None

    @property
    def sync_dir(self) -> Path | None:
        """The run's local W&B directory (`wandb sync` takes it for offline runs); None when inactive."""
        return None if self._run is None else Path(self._run.settings.sync_dir)

    def log_results(
        self,
        results: pd.DataFrame,
        metrics: Mapping[str, float | None],
        tables: Mapping[str, pd.DataFrame],
    ) -> None:
        """Summary metrics into run.summary; the table "samples" (one row per sample) and the extra tables
        under their names, all at step 0 so that every run of a group lines up."""
        self.log_metrics(metrics)
        cfg = self._cfg
        values = {SAMPLES_TABLE: partial(samples_table, results, log_images=cfg.log_images, log_64px=cfg.log_64px)}
        values.update({name: partial(frame_table, frame) for name, frame in tables.items()})
        self._log_step(values)

    def log_metrics(self, metrics: Mapping[str, float | None]) -> None:
        """Summary metrics under their own names (e.g. "clip/score_mean"); None and NaN become null."""
        if self._run is not None:
            _warn_on_error("logging summary metrics", self._run.summary.update, _summary_values(metrics))

    def log_tables(
        self,
        tables: Mapping[str, pd.DataFrame],
        images: Mapping[str, Path] | None = None,
        charts: Mapping[str, LineChart] | None = None,
    ) -> None:
        """DataFrames as W&B tables, PNG files as W&B images and line charts, each under its name, in one
        step (W&B stores a chart's data as the table `<name>_table`)."""
        values = {name: partial(frame_table, frame) for name, frame in tables.items()}
        values.update({name: partial(_image, path) for name, path in (images or {}).items()})
        values.update({name: partial(_line_chart, chart) for name, chart in (charts or {}).items()})
        self._log_step(values)

    def finish(self, exit_code: int = 0) -> None:
        """Close the run (an offline run is then complete on disk); calling it again does nothing."""
        run, self._run = self._run, None
        if run is not None:
            _warn_on_error("finishing the W&B run", run.finish, exit_code=exit_code)

    def __enter__(self) -> RunTracker:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.finish(exit_code=0 if exc_type is None else 1)

    def _log_step(self, values: Mapping[str, Callable[[], Any]]) -> None:
        """Build each value (a failure drops that one value only), then log them together in one step."""
        if self._run is None or not values:
            return
        built = {name: _warn_on_error(f"building {name!r}", make) for name, make in values.items()}
        payload = {name: value for name, value in built.items() if value is not None}
        if payload:
            _warn_on_error(f"logging {', '.join(map(repr, payload))}", self._run.log, payload)


def _warn_on_error(what: str, action: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """action(*args, **kwargs), or None after one warning if it raises."""
    # Deliberately broad: W&B raises many types (network, auth, usage, type checks), and none of them
    # may cost a run whose results are already on disk.
    try:
        return action(*args, **kwargs)
    except Exception as error:
        log.warning("W&B: %s failed (%s: %s); results on disk are unaffected", what, type(error).__name__, error)
        return None


def _image(path: Path | str) -> wandb.Image:
    import wandb

    return wandb.Image(str(path))


def _summary_values(metrics: Mapping[str, float | None]) -> dict[str, float | None]:
    return {str(name): _cell(value) for name, value in metrics.items()}


def _cell(value: Any) -> Any:
    """A DataFrame cell as a JSON-safe Python value: NumPy scalars unwrapped, NaN/inf/NA -> None."""
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_cell(item) for item in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return finite_or_none(value)
    if isinstance(value, pd.Timestamp):
        return None if pd.isna(value) else value.isoformat()
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    return value


def _table(columns: list[str], rows: list[list[Any]]) -> wandb.Table:
    import wandb

    try:
        return wandb.Table(columns=columns, data=rows)
    except TypeError:
        # A column mixing types (e.g. str and int): W&B refuses typed columns, so keep it untyped.
        return wandb.Table(columns=columns, data=rows, allow_mixed_types=True)


def frame_table(frame: pd.DataFrame) -> wandb.Table:
    """A DataFrame as a W&B table with the same columns, in order; the index is dropped."""
    columns = [str(column) for column in frame.columns]
    rows = [[_cell(value) for value in row] for row in frame.itertuples(index=False, name=None)]
    return _table(columns, rows)


def samples_table(results: pd.DataFrame, *, log_images: bool = True, log_64px: bool = True) -> wandb.Table:
    """The per-sample results as a W&B table: image columns first, then every results column in order.

    With images on, `path_256` becomes `image_256` (and `path_64` becomes `image_64` when log_64px) holding
    the PNG as a W&B image captioned with the prompt; a path column that is not turned into an image stays
    as its string. Every other column (keys, prompt, tags, seed, sampler parameters, scores) is kept as is.
    """
    import wandb

    image_paths = {"path_256": log_images, "path_64": log_images and log_64px}
    as_image = [column for column, wanted in image_paths.items() if wanted and column in results.columns]
    kept = [column for column in results.columns if column not in as_image]
    columns = [IMAGE_COLUMNS[column] for column in as_image] + [str(column) for column in kept]
    captions = results["prompt"] if "prompt" in results.columns else pd.Series([None] * len(results))
    missing: list[str] = []

    def image(path: Any, caption: Any) -> wandb.Image | None:
        if isinstance(path, str) and Path(path).is_file():
            return wandb.Image(path, caption=None if caption is None else str(caption))
        missing.append(str(path))
        return None

    rows = []
    cells = results[as_image + kept].itertuples(index=False, name=None)
    for caption, row in zip(captions.tolist(), cells, strict=True):
        images = [image(path, caption) for path in row[: len(as_image)]]
        rows.append(images + [_cell(value) for value in row[len(as_image) :]])
    if missing:
        log.warning("W&B: %d image file(s) not found, left empty in the table (first: %s)", len(missing), missing[0])
    return _table(columns, rows)


def _wandb_dir(cfg: LoggerConfig, run_dir: Path) -> Path:
    directory = Path(run_dir) if cfg.dir is None else Path(run_dir) / Path(cfg.dir).expanduser()
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def _settings(cfg: LoggerConfig, mode: str) -> wandb.Settings:
    """Quiet, fast settings: no console capture, code/git/requirements saving or system metrics."""
    import wandb

    wanted: dict[str, Any] = {
        "mode": mode,
        "init_timeout": float(cfg.init_timeout_s),
        "silent": True,
        "console": "off",
        "save_code": False,
        "disable_git": True,
        "disable_job_creation": True,
        "x_disable_stats": True,
        "x_disable_meta": True,
        "x_disable_machine_info": True,
        "x_save_requirements": False,
        # Runs of a multirun share a process; each tracker owns its run and leaves wandb.run alone.
        "reinit": "create_new",
    }
    if cfg.host is not None:
        wanted["base_url"] = cfg.host
    known = getattr(wandb.Settings, "model_fields", None)
    if known is not None:  # older releases lack some of these settings; pass only the ones it has
        wanted = {key: value for key, value in wanted.items() if key in known}
    return wandb.Settings(**wanted)


def open_run(
    cfg: LoggerConfig,
    *,
    run_dir: Path,
    name: str,
    group: str | None,
    job_type: str,
    config: Mapping[str, Any],
    tags: list[str],
) -> RunTracker:
    """Start the W&B run of one job, its files under `<run_dir>/wandb/`; never raises for W&B problems.

    `config` is logged flattened to dotted keys; `tags` are followed by cfg.tags (duplicates dropped).
    """
    mode = cfg.mode
    try:
        import wandb

        mode = resolve_mode(cfg.mode, cfg.host)
        if mode == "disabled":
            return RunTracker(None, cfg)
        run = wandb.init(
            project=cfg.project,
            entity=cfg.entity,
            dir=str(_wandb_dir(cfg, Path(run_dir))),
            name=name,
            group=group,
            job_type=job_type,
            config=flatten_config(config),
            tags=list(dict.fromkeys([*tags, *cfg.tags])),
            settings=_settings(cfg, mode),
        )
    except Exception as error:  # see _warn_on_error: tracking never costs a run
        log.warning(
            "W&B: starting %s run %r failed (%s: %s); tracking is off for it, results on disk are unaffected",
            mode,
            name,
            type(error).__name__,
            error,
        )
        return RunTracker(None, cfg)
    return RunTracker(run, cfg)


@dataclass(frozen=True, eq=False)
class LineChart:
    """The data of one W&B line chart: column `y` against column `x`, one line per value of `stroke`."""

    frame: pd.DataFrame
    x: str
    y: str
    stroke: str
    title: str


def _line_chart(chart: LineChart) -> Any:
    import wandb

    table = frame_table(chart.frame)
    return wandb.plot.line(table, chart.x, chart.y, stroke=chart.stroke, title=chart.title)


def swept_parameters(summary: pd.DataFrame) -> dict[str, pd.Series]:
    """The override columns of a sweep summary that vary across jobs and hold numbers (or numeric strings).

    By the run-dir contract metrics are named `<scorer>/<name>` and override keys are dotted config
    paths, so a column with a "/" is a metric. Text overrides (a suite name) have no axis to plot on.
    """
    swept: dict[str, pd.Series] = {}
    for column in summary.columns:
        if column in SWEEP_JOB_COLUMNS or "/" in str(column) or pd.api.types.is_bool_dtype(summary[column]):
            continue
        values = pd.to_numeric(summary[column], errors="coerce")
        if values.notna().all() and values.nunique() > 1:
            swept[str(column)] = values.astype(float)
    return swept


def metric_columns(summary: pd.DataFrame) -> list[str]:
    """The summary-metric columns (`<scorer>/<name>`) with at least one finite number."""
    metrics = []
    for column in summary.columns:
        values = summary[column]
        if "/" not in str(column) or pd.api.types.is_bool_dtype(values):
            continue
        if pd.api.types.is_numeric_dtype(values) and np.isfinite(values.astype(float)).any():
            metrics.append(str(column))
    return metrics


def _series_labels(swept: Mapping[str, pd.Series], exclude: str, jobs: int) -> list[str]:
    """Per job, the values of the swept parameters other than `exclude` ("all jobs" when there are none)."""
    others = [name for name in swept if name != exclude]
    if not others:
        return ["all jobs"] * jobs
    columns = [[f"{name}={value:g}" for value in swept[name]] for name in others]
    return [", ".join(parts) for parts in zip(*columns, strict=True)]


def sweep_charts(summary: pd.DataFrame) -> dict[str, LineChart]:
    """One line chart per (metric, swept parameter), named `<metric>_vs_<parameter>` so that it sits in the
    metric's section of the W&B workspace; jobs with no value for the metric are left out of its chart."""
    swept = swept_parameters(summary)
    charts: dict[str, LineChart] = {}
    for metric in metric_columns(summary):
        values = summary[metric].astype(float).to_numpy()
        for parameter, axis in swept.items():
            frame = pd.DataFrame(
                {
                    parameter: axis.to_numpy(),
                    metric: values,
                    SERIES_COLUMN: _series_labels(swept, parameter, len(summary)),
                }
            )
            frame = frame[np.isfinite(values)].sort_values([SERIES_COLUMN, parameter], kind="stable")
            title = f"{metric} vs {parameter}"
            charts[f"{metric}_vs_{parameter}"] = LineChart(
                frame.reset_index(drop=True), parameter, metric, SERIES_COLUMN, title
            )
    return charts


def log_sweep_summary(
    cfg: LoggerConfig,
    *,
    sweep_dir: Path,
    summary: pd.DataFrame,
    group: str,
    images: Mapping[str, Path] | None = None,
) -> None:
    """One run of job_type "sweep-summary" in `group`: the table "sweep_summary" (one row per job), a line
    chart of each metric against each swept parameter (see sweep_charts) and the report's plot PNGs as W&B
    images under their names. W&B files go under `<sweep_dir>/wandb/`; never raises for W&B problems.
    """
    tracker = open_run(
        cfg,
        run_dir=Path(sweep_dir),
        name=f"{group}-summary",
        group=group,
        job_type=SWEEP_JOB_TYPE,
        config={"sweep_dir": str(sweep_dir), "jobs": len(summary)},
        tags=[SWEEP_JOB_TYPE],
    )
    with tracker:
        if tracker.active:
            charts = _warn_on_error("building the sweep charts", sweep_charts, summary) or {}
            tracker.log_tables({SWEEP_TABLE: summary}, images=images, charts=charts)
