"""The W&B tracker: runs with config, tags, summary metrics and tables, offline when no login.

Results are already on disk when this runs, so a W&B failure is one warning and a tracker doing nothing.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.errors import ConfigError
from harness.io import finite_or_none
from harness.tracking.tracker import LineChart, flatten_config

if TYPE_CHECKING:
    import pandas as pd
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
# In the samples table a path column becomes an image column of the same resolution.
IMAGE_COLUMNS = {"path_256": "image_256", "path_64": "image_64"}


class WandbConfigError(ConfigError):
    """A W&B setting with a value outside what it allows."""


@dataclass
class WandbConfig:
    """Where and how runs are tracked in W&B (conf/logger/wandb.yaml; typed at composition by Hydra).

    mode: "auto" (online when wandb finds a login, else offline; WANDB_MODE wins when set), "online",
    "offline" (sync later with `wandb sync <run_dir>/wandb/offline-run-*`) or "disabled".
    host: W&B server URL (null = wandb's default or WANDB_BASE_URL). dir: where W&B writes its files
    (null = the run dir; relative paths are taken from the run dir). tags: added to every run's tags.
    """

    tracker: str = "wandb"  # the TRACKERS entry that opens runs with this config
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
            raise WandbConfigError(f"logger.mode: {self.mode!r} is not one of {', '.join(MODES)}")
        if not self.project:
            raise WandbConfigError(f"logger.project: {self.project!r} must be a non-empty string")
        if not self.init_timeout_s > 0:
            raise WandbConfigError(f"logger.init_timeout_s: {self.init_timeout_s!r} must be a positive number")
        self.tags = tuple(str(tag) for tag in self.tags)

    def files_dir(self, run_dir: Path) -> Path | None:
        """Where W&B writes a run's files (`dir`, taken from the run dir when relative); None when disabled.
        The job checks it before sampling: W&B would otherwise fall back to the system's temp dir."""
        if self.mode == "disabled":
            return None
        return Path(run_dir) if self.dir is None else Path(run_dir) / Path(self.dir).expanduser()


def resolve_mode(mode: str, host: str | None = None) -> str:
    """Configured mode -> the mode W&B runs in ("online", "offline" or "disabled"); no network call.

    "auto" takes WANDB_MODE when it is set, else online exactly when a login for `host` is found.
    """
    if mode not in MODES:
        raise WandbConfigError(f"logger.mode={mode!r} is not one of {', '.join(MODES)}")
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


class WandbTracker:
    """One W&B run (or nothing, when tracking is off or failed); every W&B error becomes a warning."""

    def __init__(self, run: wandb.Run | None = None, cfg: WandbConfig | None = None, mode: str | None = None) -> None:
        self._run = run
        self._cfg = cfg or WandbConfig()
        self._mode = mode
        self._where = self._describe()

    @property
    def where(self) -> str:
        """One line for the console: the mode, where the run's files are and how to upload an offline run."""
        return self._where

    def _describe(self) -> str:
        if self._run is None:
            why = "logger.mode=disabled" if self._mode == "disabled" else "its start failed, see the warning above"
            return f"W&B: not tracked ({why}); the results are on disk"
        if self._mode == "offline":
            return f"W&B: offline, run files in {self.sync_dir}; upload with: wandb sync {self.sync_dir}"
        url = getattr(self._run, "url", None)
        return f"W&B: online, {url or 'run ' + str(self._run.id)}"

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

    def __enter__(self) -> WandbTracker:
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
    import pandas as pd  # loaded by then: the tables hold its values

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
    import pandas as pd
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


def _wandb_dir(cfg: WandbConfig, run_dir: Path) -> Path:
    directory = Path(run_dir) if cfg.dir is None else Path(run_dir) / Path(cfg.dir).expanduser()
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def _settings(cfg: WandbConfig, mode: str) -> wandb.Settings:
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
    cfg: WandbConfig,
    *,
    run_dir: Path,
    name: str,
    group: str | None,
    job_type: str,
    config: Mapping[str, Any],
    tags: list[str],
) -> WandbTracker:
    """Start the W&B run of one job, its files under `<run_dir>/wandb/`; never raises for W&B problems.

    `config` is logged flattened to dotted keys; `tags` are followed by cfg.tags (duplicates dropped).
    """
    mode = cfg.mode
    try:
        import wandb

        mode = resolve_mode(cfg.mode, cfg.host)
        if mode == "disabled":
            return WandbTracker(None, cfg, mode)
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
        return WandbTracker(None, cfg, mode)
    return WandbTracker(run, cfg, mode)


def _line_chart(chart: LineChart) -> Any:
    import wandb

    table = frame_table(chart.frame)
    return wandb.plot.line(table, chart.x, chart.y, stroke=chart.stroke, title=chart.title)
