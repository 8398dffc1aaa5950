"""The typed experiment configuration that a YAML file is validated into.

Data flows one way: YAML -> :class:`ExperimentConfig` (each section validated here, then the
checks across sections in :mod:`hlynr.config.checks`, before anything runs) -> builders (env,
wrappers, algorithm, callbacks) -> a run.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic_core import PydanticCustomError

from hlynr.config.algo import AlgoConfig
from hlynr.config.base import StrictModel, nested_error, reraise_nested
from hlynr.config.components import UserParams
from hlynr.config.env import EnvConfig, GymEnvConfig, PettingZooEnvConfig
from hlynr.config.pretrain import PretrainConfig
from hlynr.config.seeds import GROUP_KEYS, parse_grid, parse_seeds
from hlynr.config.stages import StageSelector, resolve_stage
from hlynr.config.tracking import TrackingConfig
from hlynr.config.tuning import TuneConfig
from hlynr.registries import CALLBACKS, WRAPPERS, Registry, UnknownNameError

__all__ = ["AlgoConfig", "ComponentSpec", "EnvConfig", "ExperimentConfig", "GymEnvConfig",
           "PettingZooEnvConfig", "dump_config", "parse_components"]


class ComponentSpec(BaseModel):
    """One ``name`` / ``{name: params}`` item of a ``wrappers:`` or ``callbacks:`` list."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)
    name: str
    params: Any  # the validated parameter model of the registry entry

    @model_serializer
    def _dump(self) -> dict[str, Any]:
        user = isinstance(self.params, UserParams)  # user code: only the arguments set
        return {self.name: self.params.model_dump(mode="json", exclude_unset=user)}


def parse_components(items: Any, registry: Registry[Any], kind: str) -> list[ComponentSpec]:
    """Validate a list of ``name`` / ``{name: params}`` items against a registry."""
    if items is None:
        return []
    if not isinstance(items, list):
        raise PydanticCustomError("type", f"must be a list of {kind}s")
    out = []
    raw: Any
    for i, item in enumerate(items):
        if isinstance(item, ComponentSpec):
            out.append(item)
            continue
        if isinstance(item, str):
            name, raw = item, dict[str, Any]()
        elif isinstance(item, dict) and len(item) == 1:
            name, raw = next(iter(item.items()))
            raw = {} if raw is None else raw
        else:
            raise nested_error(f"each {kind} is a name or a one-key mapping {{name: {{params}}}}", i)
        try:
            entry = registry.get(name)
        except (UnknownNameError, ValueError) as exc:
            raise nested_error(str(exc), i) from None
        if not isinstance(raw, dict):
            raise nested_error(f"parameters of {kind} '{name}' must be a mapping", i, name)
        try:
            params = entry.params.model_validate(raw)
        except ValidationError as exc:
            raise reraise_nested(exc, raw, i, name) from None
        out.append(ComponentSpec(name=name, params=params))
    return out


class ExperimentConfig(StrictModel):
    """A whole experiment: what to train, how, for how long, and what to watch.

    Validating this model checks each section; :func:`hlynr.config.validate_config` then runs
    the checks across sections (:mod:`hlynr.config.checks`). Make configs with that function.
    """

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
                      description="run name: runs go to <runs_dir>/<name>/<timestamp>/")
    seed: int = Field(0, ge=0, lt=2**31, strict=True)
    total_timesteps: int = Field(gt=0, strict=True, description="environment timesteps to train for")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    torch_threads: int = Field(1, ge=1, le=256, strict=True, description="torch intra-op threads")
    runs_dir: str = Field("runs", min_length=1, description="parent folder of run folders")
    env: EnvConfig
    wrappers: list[ComponentSpec] = Field(default_factory=list)
    algo: AlgoConfig
    callbacks: list[ComponentSpec] = Field(default_factory=list)
    tune: TuneConfig | None = Field(None, description="hyperparameter search (--optimize)")
    pretrain: PretrainConfig | None = Field(None, description="clone a teacher before RL")
    tracking: TrackingConfig | None = Field(None, description="experiment trackers (TensorBoard hparams, MLflow, W&B)")
    seeds: list[int] | None = Field(None, description="one run per seed, in a run group "
                                                      "(a list, or a text such as '0-4')")
    grid: dict[str, list[Any]] | None = Field(None, description="key path -> values to cross; "
                                                               "each cell is a run group")

    @model_validator(mode="before")
    @classmethod
    def _default_env_type(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("env"), dict):
            if "type" not in data["env"]:
                data = {**data, "env": {"type": "gymnasium", **data["env"]}}
        return data

    @field_validator("seeds", mode="before")
    @classmethod
    def _seeds(cls, value: Any) -> list[int] | None:
        return None if value is None else parse_seeds(value)

    @field_validator("grid", mode="before")
    @classmethod
    def _grid(cls, value: Any) -> dict[str, list[Any]] | None:
        if value is None:
            return None
        try:
            return parse_grid(value)
        except ValueError as exc:
            msg, key = exc.args
            raise (nested_error(msg, key) if key is not None else nested_error(msg)) from None

    @property
    def is_group(self) -> bool:
        """Whether the config trains a run group (``seeds:`` or ``grid:``) rather than one run."""
        return self.seeds is not None or self.grid is not None

    @field_validator("wrappers", mode="before")
    @classmethod
    def _wrappers(cls, value: Any) -> list[ComponentSpec]:
        return parse_components(value, WRAPPERS, "wrapper")

    @field_validator("callbacks", mode="before")
    @classmethod
    def _callbacks(cls, value: Any) -> list[ComponentSpec]:
        specs = parse_components(value, CALLBACKS, "callback")
        names = [c.name for c in specs]
        for i, spec in enumerate(specs):
            if names.count(spec.name) > 1:
                raise nested_error(f"callback '{spec.name}' is listed more than once", i)
            if CALLBACKS.get(spec.name).needs_evaluation and "evaluation" not in names:
                raise nested_error(f"'{spec.name}' acts on evaluation results: add an "
                                   "'evaluation' callback", i)
        return specs

    @property
    def vectoriser(self) -> str:
        """The vectoriser the env is built with (PettingZoo envs: always batched agent rows)."""
        if isinstance(self.env, PettingZooEnvConfig):
            return "batched"  # every wrapper applies to the parameter-shared VecEnv
        return self.env.vectoriser

    def callback(self, name: str) -> Any | None:
        """The validated parameters of the named callback, or None if not configured."""
        return next((c.params for c in self.callbacks if c.name == name), None)

    @property
    def stages(self) -> list[dict[str, Any]]:
        """The curriculum's stages (env parameters), empty without a curriculum."""
        curriculum = self.callback("curriculum")
        return [dict(s) for s in curriculum.stages] if curriculum is not None else []

    def stage(self, selector: StageSelector,
              current: tuple[int, dict[str, Any]] | None = None) -> tuple[int | None, dict[str, Any] | None]:
        """``(index, env params)`` of a curriculum stage: ``final``, ``current`` or an index."""
        return resolve_stage(self.stages, selector, current)



def dump_config(config: ExperimentConfig) -> dict[str, Any]:
    """The fully resolved config as plain data (what ``config.yaml`` in a run folder holds)."""
    data = config.model_dump(mode="json")
    for key in ("tune", "pretrain", "tracking", *GROUP_KEYS):
        if data.get(key) is None:
            data.pop(key, None)
    return data
