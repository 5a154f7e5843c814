"""Structured configs: the typed shape of every Hydra config node, registered in Hydra's ConfigStore.

A wrong type or an unknown key fails at composition with the key's name; value checks (ranges, NaN, names
of loops and guidance) run in `__post_init__`, which `OmegaConf.to_object` calls before any work starts.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

from harness.errors import ConfigError
from harness.glide.bad_input import GlideInputError
from harness.glide.guidance import GUIDANCE
from harness.glide.loops import LOOPS
from harness.glide.presets import DTYPE_NAMES
from harness.glide.respacing import space_timesteps
from harness.glide.spec import ModelSpec, check_device
from harness.locations import EXPERIMENTS_DIR
from harness.scorers import scorer_options_class
from harness.scorers.perceptual import lpips_option_error
from harness.tracking import TRACKERS
from harness.tracking import register_schemas as register_tracker_schemas

DEVICES = ("auto", "cpu", "cuda")
_INT64_MAX = 2**63 - 1
# A name that becomes one component of a path (the run and sweep dirs): no separator, no "..", no hidden file.
_PATH_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,99}")
STAGES = ("base", "upsample")
# What respacings are checked against: both released models diffuse over 1000 steps.
_DIFFUSION_STEPS = 1000


def pixel_param(stage: str, default: Any, *, keyed_at_default: bool = True) -> Any:
    """A sampler field that changes the pixels of `stage`'s images, so it enters that stage's content key.

    Fields added after stores were first written pass keyed_at_default=False: they enter the key only when
    they differ from their default, so every sample stored before they existed keeps its key.
    """
    return field(default=default, metadata={"stage": stage, "keyed_at_default": keyed_at_default})


@dataclass
class SamplerConfig:
    """How each stage samples. The pixel fields (pixel_param) are, in this order, the manifest's parameter
    columns and the content key's inputs; a new parameter is one new field here."""

    guidance: str = pixel_param("base", "classifier_free", keyed_at_default=False)  # glide/guidance.py
    guidance_scale: float = pixel_param("base", 3.0)  # s (1 = no guidance)
    base_loop: str = pixel_param("base", "ancestral", keyed_at_default=False)  # glide/loops.py
    base_steps: str = pixel_param("base", "100")  # respacing of the base schedule
    base_eta: float = pixel_param("base", 0.0, keyed_at_default=False)  # DDIM's eta, when base_loop=ddim
    upsample_loop: str = pixel_param("upsample", "ddim", keyed_at_default=False)
    upsample_steps: str = pixel_param("upsample", "fast27")
    upsample_eta: float = pixel_param("upsample", 0.0, keyed_at_default=False)
    upsample_temp: float = pixel_param("upsample", 0.997)  # x_T = temp * N(0, I) for the upsampler
    batch_size: int = 8
    samples_per_prompt: int = 4  # seeds seed, seed + 1, ... for every prompt
    seed: int = 0
    device: str = "auto"  # auto: cuda when available, else cpu
    dtype: str = "auto"  # fp32 | bf16 | fp16; auto: bf16 on cuda and on CPUs with native bf16, else fp32
    per_sample: bool = (
        True  # one forward per sample: pixels independent of batching (docs/reproducibility-and-store.md)
    )
    compile: bool = False  # torch.compile the UNets (pays off on a GPU for long runs; first batch compiles)

    def __post_init__(self) -> None:
        if not math.isfinite(self.guidance_scale) or self.guidance_scale < 0:
            raise ConfigError(f"sampler.guidance_scale: {self.guidance_scale!r} must be a finite number >= 0")
        if not math.isfinite(self.upsample_temp) or self.upsample_temp <= 0:
            raise ConfigError(f"sampler.upsample_temp: {self.upsample_temp!r} must be a finite number > 0")
        for key in ("batch_size", "samples_per_prompt"):
            if getattr(self, key) < 1:
                raise ConfigError(f"sampler.{key}: {getattr(self, key)!r} must be an integer >= 1")
        # Seeds seed .. seed + samples_per_prompt - 1 are the manifest's int64 column.
        highest = _INT64_MAX - self.samples_per_prompt + 1
        if not -_INT64_MAX - 1 <= self.seed <= highest:
            raise ConfigError(
                f"sampler.seed: {self.seed!r} is out of range; allowed: integers from {-_INT64_MAX - 1} to {highest} "
                f"(with samples_per_prompt={self.samples_per_prompt}, every seed fits in 64 bits)"
            )
        if self.guidance not in GUIDANCE:
            raise ConfigError(f"sampler.guidance: {self.guidance!r} is not one of {', '.join(GUIDANCE)}")
        for stage in STAGES:
            self._check_stage(stage)
        if GUIDANCE[self.guidance].needs_guide and "cond_fn" not in LOOPS[self.base_loop].hooks:
            takers = [name for name, loop in LOOPS.items() if "cond_fn" in loop.hooks]
            raise ConfigError(
                f"sampler.guidance={self.guidance} shifts each step's mean, which sampler.base_loop="
                f"{self.base_loop!r} cannot do; use base_loop={' or '.join(takers)}"
            )
        if self.device not in DEVICES and not self.device.startswith("cuda:"):
            raise ConfigError(f"sampler.device: {self.device!r} is not one of {', '.join(DEVICES)} or cuda:N")
        check_device(self.device)
        if self.dtype != "auto" and self.dtype not in DTYPE_NAMES:
            raise ConfigError(f"sampler.dtype: {self.dtype!r} is not one of auto, {', '.join(DTYPE_NAMES)}")

    def _check_stage(self, stage: str) -> None:
        loop_name = getattr(self, f"{stage}_loop")
        if loop_name not in LOOPS:
            raise ConfigError(f"sampler.{stage}_loop: {loop_name!r} is not one of {', '.join(LOOPS)}")
        steps_key = f"{stage}_steps"
        try:
            space_timesteps(_DIFFUSION_STEPS, getattr(self, steps_key))
            if LOOPS[loop_name].check_respacing is not None:
                LOOPS[loop_name].check_respacing(getattr(self, steps_key))
        except GlideInputError as err:
            raise ConfigError(f"sampler.{steps_key}: {err}") from None
        eta_key = f"{stage}_eta"
        eta = getattr(self, eta_key)
        if not math.isfinite(eta) or eta < 0:
            raise ConfigError(f"sampler.{eta_key}: {eta!r} must be a finite number >= 0")
        if eta != 0 and "eta" not in LOOPS[loop_name].options:
            raise ConfigError(f"sampler.{eta_key}: {eta!r} needs a loop that takes eta (ddim), not {loop_name!r}")


def pixel_fields(stage: str | None = None) -> list[dataclasses.Field]:
    """The sampler's pixel-changing fields (of one stage, or all), in declaration order."""
    return [
        f for f in dataclasses.fields(SamplerConfig) if "stage" in f.metadata and stage in (None, f.metadata["stage"])
    ]


def _sample_params_class() -> type:
    """SampleParams: the sampler's pixel fields as one frozen value, their names, types, defaults and key
    metadata taken from SamplerConfig, so a new parameter is still one field there."""
    fields = [(f.name, f.type, field(default=f.default, metadata=f.metadata)) for f in pixel_fields()]
    return dataclasses.make_dataclass(
        "SampleParams",
        fields,
        frozen=True,
        namespace={
            "__module__": __name__,
            "__doc__": "What a sample's pixels depend on besides its prompt, seed and model: the sampler's pixel "
            "fields, typed. It travels from the config through the plan and the runner to the generator; "
            "nothing between them reads a parameter by its name.",
            "of": classmethod(_params_of),
            "loop_options": _loop_options,
            "stage_fields": _stage_fields,
        },
    )


def _params_of(cls: type, sampler: SamplerConfig) -> Any:
    """The sampler's pixel fields, numbers as their declared type (Hydra may give 3 for 3.0)."""
    return cls(**{f.name: float(getattr(sampler, f.name)) if f.type == "float" else getattr(sampler, f.name)
                  for f in pixel_fields()})  # fmt: skip


def _loop_options(self: Any, stage: str) -> dict[str, Any]:
    """The options `stage`'s loop declares, from the fields `<stage>_<option>` (upsample_eta -> eta): the one
    place where a field is found by a name built from another (a loop's options are its keyword arguments)."""
    loop = LOOPS[getattr(self, f"{stage}_loop")]
    return {option: getattr(self, f"{stage}_{option}") for option in loop.options}


def _stage_fields(self: Any, stage: str | None = None) -> dict[str, Any]:
    """The pixel fields (of one stage, or all) as {name: value}, in declaration order: the manifest's
    parameter columns and the content keys' inputs."""
    return {f.name: getattr(self, f.name) for f in pixel_fields(stage)}


SampleParams = _sample_params_class()

# A samples column of the manifest names a sampler pixel field without its node (`guidance_scale`); everywhere
# else (YAML, overrides, findings' `compare`) the value is `sampler.guidance_scale`. The two are mapped here.
SAMPLER_NODE = "sampler"


def sampler_columns() -> tuple[str, ...]:
    """The samples columns that are sampler fields: the pixel fields and the seed."""
    return (*(f.name for f in pixel_fields()), "seed")


def sample_column(key: str) -> str:
    """The samples column of a config key: `sampler.guidance_scale` -> `guidance_scale`; other keys as they are."""
    node, _, name = key.partition(".")
    return name if node == SAMPLER_NODE and name in sampler_columns() else key


def config_key(column: str) -> str:
    """The config key of a samples column: `guidance_scale` -> `sampler.guidance_scale`; other names as they are."""
    return f"{SAMPLER_NODE}.{column}" if column in sampler_columns() else column


@dataclass
class PromptConfig:
    id: str
    text: str
    tags: dict[str, str] = field(default_factory=dict)
    expected_class: str | None = None  # the class a control prompt names (probe validation)
    objects: list[str] | None = None  # what the image must show (detect scorer: object presence)
    phrases: list[str] | None = None  # the phrases whose image area is measured (detect scorer: coverage)
    image: Any = None  # inpainting: the source image's path, or {prompt, seed}: a source the harness samples
    mask: Any = None  # inpainting: a 64x64 mask image's path (white keeps), or {left, top, right, bottom} to repaint


@dataclass
class ProbeConfig:
    """The zero-shot probe a suite is built for: its taxonomy and, named in advance, the class of interest."""

    taxonomy: str  # a name in conf/taxonomy/ or a path to a taxonomy YAML
    class_of_interest: str | None = None


def check_path_name(key: str, value: str) -> None:
    """Refuse a name that the run or sweep dir is built from unless it is one plain path component."""
    if not _PATH_NAME.fullmatch(value) or ".." in value:
        raise ConfigError(
            f"{key}: {value!r} is not a plain name; allowed: 1-100 letters, digits, '.', '_', '+', '-', "
            "starting with a letter or digit, without '..' (it names the run's directory)"
        )


@dataclass
class SuiteConfig:
    name: str = "custom"
    description: str = ""
    prompts: list[PromptConfig] = field(default_factory=list)
    path: str | None = None  # a .txt (one prompt per line) or .csv file of prompts, instead of or besides `prompts`
    probe: ProbeConfig | None = None  # the bias scorer runs only on suites that name a probe

    def __post_init__(self) -> None:
        check_path_name("suite.name", self.name)


FINDING_EXPECTATIONS = ("increase", "decrease", "highest", "lowest")
RUNNER_STAGES = ("all", "sample", "score", "plan")


@dataclass
class FindingConfig:
    """What outcome of which metric supports an experiment's claim (its `note`); harness/analysis/findings.py reads it.

    increase / decrease: the per-sample score `metric` (and each of `also`) rises / falls between adjacent
    values of the swept parameter `compare` (paired comparisons, Holm-adjusted). highest / lowest: the
    prompts whose samples column `compare` equals `target` score highest / lowest of all its values.
    """

    metric: str  # a per-sample score column, e.g. detect.coverage.lake
    compare: str  # a swept parameter (sampler.guidance_scale) or a samples column (tag.style)
    expect: str  # increase | decrease | highest | lowest
    target: str | None = None  # highest / lowest: the value of `compare` the claim singles out
    also: list[str] = field(default_factory=list)  # more score columns held to the same expectation
    alpha: float = 0.05  # a comparison counts when its Holm-adjusted p is below alpha
    # The effect the study should detect, in SD of the per-prompt quantity its test reads (the per-prompt slope
    # for a trend, the per-prompt difference for a contrast): the plan and the Findings table give the power at it.
    effect: float | None = None
    # The samples column whose values are the units paired across the values of `compare` (tag.subject: the
    # same subject in every style); None: the prompts. A unit lacking a value of `compare` is left out.
    pair_by: str | None = None

    def __post_init__(self) -> None:
        if self.expect not in FINDING_EXPECTATIONS:
            raise ConfigError(f"finding.expect: {self.expect!r} is not one of {', '.join(FINDING_EXPECTATIONS)}")
        if self.expect in ("highest", "lowest") and not self.target:
            raise ConfigError(f"finding.target: expect={self.expect} needs the value of {self.compare!r} it names")
        if not 0 < self.alpha < 1:
            raise ConfigError(f"finding.alpha: {self.alpha!r} must be a number in (0, 1), e.g. 0.05")
        if self.effect is not None and not (math.isfinite(self.effect) and self.effect > 0):
            raise ConfigError(f"finding.effect: {self.effect!r} must be a number > 0 (in SD), e.g. 0.5, or null")
        if self.pair_by is not None and self.pair_by in ("", self.compare):
            raise ConfigError(
                f"finding.pair_by: {self.pair_by!r} is not allowed; allowed: a samples column other than "
                "compare (tag.subject), or null"
            )
        for key, value in (("metric", self.metric), ("compare", self.compare)):
            if not value.strip():
                raise ConfigError(f"finding.{key}: must name a column, got {value!r}")

    @property
    def metrics(self) -> list[str]:
        return [self.metric, *self.also]


def parse_shard(text: str) -> tuple[int, int]:
    """'I/N' -> (I, N) with 0 <= I < N."""
    try:
        index, count = (int(part) for part in str(text).split("/"))
    except ValueError:
        index, count = -1, 0
    if count < 1 or not 0 <= index < count:
        raise ConfigError(f"runner.shard: {text!r} must be I/N with 0 <= I < N, e.g. 0/4")
    return index, count


@dataclass
class RunnerConfig:
    shard: str = "0/1"  # I/N: sample only the I-th of N slices of the plan (by prompt)
    stage: str = "all"  # all | sample | score | plan (check the command and say what its design can decide)

    def __post_init__(self) -> None:
        if self.stage not in RUNNER_STAGES:
            raise ConfigError(f"runner.stage: {self.stage!r} is not one of {', '.join(RUNNER_STAGES)}")
        parse_shard(self.shard)


@dataclass
class StoreConfig:
    cache_dir: str = "outputs/samples"  # the shared sample store; relative to the directory of the command

    def __post_init__(self) -> None:
        if not self.cache_dir.strip():
            raise ConfigError(
                f"store.cache_dir: {self.cache_dir!r} is empty; give the sample store's directory, e.g. outputs/samples"
            )


@dataclass
class FidelityConfig:
    """A sampler-fidelity sweep (harness/analysis/fidelity.py): the reference point every other job is compared with."""

    reference: dict[str, str] = field(default_factory=dict)  # config key -> value; empty: no fidelity step
    lpips_net: str = "alex"  # alex | vgg | squeeze
    lpips_backbone: str = "auto"  # auto (random for random-weight models) | pretrained | random | a state-dict file
    fid_features: str = "auto"  # auto (tiny features for random-weight models) | inception | a class path

    def __post_init__(self) -> None:
        if error := lpips_option_error("fidelity", self.lpips_net, self.lpips_backbone):
            raise ConfigError(error)


@dataclass
class RunConfig:
    model: ModelSpec = field(default_factory=ModelSpec)
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    runner: RunnerConfig = field(default_factory=RunnerConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    suite: SuiteConfig | None = None
    experiment: str | None = None
    note: str = ""  # what the study is for / what the seed observed (experiments set it)
    finding: FindingConfig | None = None  # which metric tests the note's claim, and what outcome supports it
    scorers: list[str] = field(default_factory=list)
    fidelity: FidelityConfig = field(default_factory=FidelityConfig)
    scorer: Any = None  # typed by run_config_class(): one node per registered scorer
    logger: Any = None  # typed by the schema the chosen conf/logger/NAME.yaml names (harness.tracking)

    def __post_init__(self) -> None:
        if self.experiment is not None:
            check_path_name("experiment", self.experiment)
        tracker = getattr(self.logger, "tracker", None)
        if tracker is not None and tracker not in TRACKERS:
            raise ConfigError(f"logger.tracker: {tracker!r} is not one of {', '.join(TRACKERS)}")


def run_config_class() -> type:
    """RunConfig with its `scorer` node typed by the scorer registry (one field per registered scorer), so
    `scorer.<name>.<key>` is checked at composition like any other key; plugins register before this."""
    options = scorer_options_class()
    return dataclasses.make_dataclass(
        "RunConfig", [("scorer", options, field(default_factory=options))], bases=(RunConfig,)
    )


def saved_config(saved: DictConfig) -> DictConfig:
    """A config a job saved (its .hydra/config.yaml) merged onto the schemas Hydra composed it with."""
    schema = OmegaConf.structured(run_config_class())
    tracker = OmegaConf.select(saved, "logger.tracker", default="wandb")
    if tracker not in TRACKERS:
        raise ConfigError(f"logger.tracker: {tracker!r} is not one of {', '.join(TRACKERS)}")
    schema.logger = OmegaConf.structured(TRACKERS[tracker][0])
    return OmegaConf.merge(schema, saved)


def sweep_name(experiment: str | None, suite: str | None) -> str:
    """The name a sweep dir ends in: its experiment's, else its suite's (a sweep over suites: 'suites')."""
    return experiment or suite or "suites"


_registered = False


def register() -> None:
    """The schemas Hydra types the config with (the run's, and each tracker's for conf/logger/*.yaml), the
    experiments (experiments/*.yaml, each file marked `# @package _global_`) and the resolver that names sweep dirs."""
    global _registered
    _registered = True
    store = ConfigStore.instance()
    store.store(name="run_schema", node=run_config_class())
    for path in sorted(EXPERIMENTS_DIR.glob("*.yaml")):  # +experiment=NAME: experiments/ is the group's folder
        store.store(group="experiment", name=path.stem, node=OmegaConf.load(path), package="_global_")
    register_tracker_schemas()
    if not OmegaConf.has_resolver("harness.sweep_name"):
        OmegaConf.register_new_resolver("harness.sweep_name", sweep_name)


def ensure_registered() -> None:
    """register(), unless this process has done it (the command does, after its plugins load)."""
    if not _registered:
        register()
