"""The ``tracking:`` section: experiment trackers that follow a run (TensorBoard hparams, MLflow, W&B).

Each key names one tracker and holds its settings; a tracker that is not named is off::

    tracking:
      tensorboard: {}                                  # hparams in <run>/tb/hparams/
      mlflow: {tracking_uri: sqlite:///mlflow.db}
      wandb: {project: hlynr, mode: offline}

Every tracker has ``group`` (default: the config's name; a tuning study's trials use the study
name) and ``name`` (default: the run folder's parent and own name, e.g.
``pendulum_ppo/20261121-221500`` or ``trial-0003/seed-0``). A tracker whose Python package is
not installed fails validation with the command that installs it, so ``train.py --check`` finds
it before anything runs. The trackers themselves live in :mod:`hlynr.trackers`.
"""

from __future__ import annotations

import copy
import importlib.util
from typing import Any, ClassVar, Literal

from pydantic import Field, SerializerFunctionWrapHandler, model_serializer, model_validator
from pydantic_core import PydanticCustomError

from hlynr.config.base import StrictModel


class TrackerSettings(StrictModel):
    """What every tracker has: the group its runs are shown in, and the run's name."""

    package: ClassVar[str | None] = None
    """The Python package the tracker needs (None: always available)."""
    extra: ClassVar[str] = ""
    """The ``hlynr[...]`` extra that installs it."""

    group: str | None = Field(None, min_length=1, max_length=250,
                              description="group of runs (default: the config's name; tuning trials: the study name)")
    name: str | None = Field(None, min_length=1, max_length=250,
                             description="run name (default: <parent folder>/<run folder>)")

    @model_validator(mode="before")
    @classmethod
    def _installed(cls, data: Any) -> Any:
        if cls.package is not None and not package_available(cls.package):
            raise PydanticCustomError(
                "tracker_missing",
                "{package} is not installed: pip install 'hlynr[{extra}]' (or pip install {package}), "
                "or remove this tracker",
                {"package": cls.package, "extra": cls.extra})
        return data


class TensorBoardSettings(TrackerSettings):
    """hparams for TensorBoard's HPARAMS tab: the flattened resolved config beside the final and
    best evaluation metrics, written to ``<run>/tb/hparams/`` (point TensorBoard at the runs
    folder to compare runs and tuning trials)."""


class MlflowSettings(TrackerSettings):
    """An MLflow run: params = the flattened resolved config, metrics at every progress record,
    ``config.yaml`` and the best and final models as artifacts."""

    package: ClassVar[str | None] = "mlflow"
    extra: ClassVar[str] = "mlflow"

    tracking_uri: str | None = Field(
        None, min_length=1,
        description="any MLflow tracking URI (sqlite:///mlflow.db, http://host:5000); default: "
                    "MLFLOW_TRACKING_URI, else MLflow's own default")
    experiment: str | None = Field(None, min_length=1, max_length=250,
                                   description="MLflow experiment (default: the group)")
    artifact_location: str | None = Field(
        None, min_length=1,
        description="where a new experiment keeps its artifacts (default: MLflow's, e.g. ./mlruns "
                    "for a sqlite: store)")
    artifacts: bool = Field(True, description="upload config.yaml, best/ and final/ at the end")


class WandbSettings(TrackerSettings):
    """A Weights & Biases run: config = the flattened resolved config, metrics at every progress
    record (x axis: timesteps), best and final evaluation metrics in the summary."""

    package: ClassVar[str | None] = "wandb"
    extra: ClassVar[str] = "wandb"

    project: str = Field("hlynr", min_length=1, max_length=128, description="W&B project")
    entity: str | None = Field(None, min_length=1, description="W&B team or user (default: yours)")
    mode: Literal["online", "offline", "disabled"] | None = Field(
        None, description="default: WANDB_MODE, else online")
    dir: str | None = Field(None, min_length=1,
                            description="where wandb writes its files (default: the run folder)")
    tags: list[str] = Field(default_factory=list, description="run tags")


class TrackingConfig(StrictModel):
    """The trackers a run reports to; see the module docstring."""

    tensorboard: TensorBoardSettings | None = None
    mlflow: MlflowSettings | None = None
    wandb: WandbSettings | None = None

    @model_validator(mode="before")
    @classmethod
    def _switches(cls, data: Any) -> Any:
        # ``mlflow:`` (empty) or ``mlflow: true`` turns a tracker on with its defaults;
        # ``mlflow: false`` turns it off (e.g. with --set on a config that names it)
        if isinstance(data, dict):
            return {k: {} if v is None or v is True else v for k, v in data.items() if v is not False}
        return data

    @model_serializer(mode="wrap")
    def _only_on(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # trackers that are off are left out: ``mlflow: null`` would read back as "on"
        return {k: v for k, v in handler(self).items() if v is not None}

    def named(self) -> dict[str, TrackerSettings]:
        """The trackers that are on, by name."""
        return {k: v for k in type(self).model_fields if (v := getattr(self, k)) is not None}


def package_available(name: str) -> bool:
    """Whether ``import name`` can find the package (without importing it)."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a broken install, or sys.modules[name] set to None
        return False


def with_group(data: dict[str, Any], group: str) -> dict[str, Any]:
    """Plain config ``data`` whose trackers without a ``group`` get ``group`` (a tuning study
    puts its trials in one group this way)."""
    tracking = data.get("tracking")
    if not isinstance(tracking, dict):
        return data
    out = copy.deepcopy(data)
    for key, settings in out["tracking"].items():
        if settings is None or settings is True:
            out["tracking"][key] = settings = {}
        if isinstance(settings, dict) and settings.get("group") is None:
            settings["group"] = group
    return out
