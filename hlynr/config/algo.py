"""The ``algo:`` section: algorithm name, policy, hyperparameters and policy kwargs."""

from __future__ import annotations

from typing import Any

from pydantic import Field, PrivateAttr, ValidationError, model_validator

from hlynr.config.base import StrictModel, nested_error, reraise_nested
from hlynr.config.components import REPLAY_BUFFER_CONTROLLED, validate_class_kwargs
from hlynr.config.imports import is_path
from hlynr.config.signatures import hyperparams_model, policy_class, policy_kwargs_model
from hlynr.registries import (
    ALGORITHMS,
    FEATURES_EXTRACTORS,
    REPLAY_BUFFERS,
    AlgorithmEntry,
    UnknownNameError,
)

# ``(section, class key, kwargs key, registry, arguments hlynr or the algorithm passes)``
_CLASS_KWARGS = (
    ("hyperparams", "replay_buffer_class", "replay_buffer_kwargs", REPLAY_BUFFERS,
     REPLAY_BUFFER_CONTROLLED),
    ("policy_kwargs", "features_extractor_class", "features_extractor_kwargs",
     FEATURES_EXTRACTORS, frozenset({"self", "observation_space", "layout"})),
)


class AlgoConfig(StrictModel):
    """The SB3 / sb3-contrib / hlynr algorithm, its hyperparameters and policy kwargs.

    ``hyperparams`` and ``policy_kwargs`` keep the plain data as written (what ``config.yaml``
    records); :meth:`hyperparam_values` and :meth:`policy_kwarg_values` give the validated values
    the model builder passes on (schedules as schedule objects, names still names).
    """

    name: str = Field(description="e.g. PPO, A2C, SAC, TD3, TQC, RecurrentPPO")
    policy: str | None = Field(None, description="policy name; default per algorithm")
    hyperparams: dict[str, Any] = Field(default_factory=dict)
    policy_kwargs: dict[str, Any] = Field(default_factory=dict)
    _hp: Any = PrivateAttr(None)
    _pk: Any = PrivateAttr(None)

    @model_validator(mode="after")
    def _validate(self) -> AlgoConfig:
        try:
            entry = ALGORITHMS.get(self.name)
        except UnknownNameError as exc:
            raise nested_error(str(exc), "name") from None
        policy = self.policy or entry.default_policy
        try:
            policy_class(self.name, policy)
        except (UnknownNameError, ValueError) as exc:
            raise nested_error(str(exc), "policy") from None
        checked = {}
        for key, model in (("hyperparams", hyperparams_model(self.name)),
                           ("policy_kwargs", policy_kwargs_model(self.name, policy))):
            raw = getattr(self, key)
            try:
                checked[key] = model.model_validate(raw)
            except ValidationError as exc:
                raise reraise_nested(exc, raw, key) from None
        dumped = {key: model.model_dump(mode="json", exclude_unset=True)
                  for key, model in checked.items()}
        for section, class_key, kwargs_key, registry, skip in _CLASS_KWARGS:
            data = dumped[section]
            if data.get(kwargs_key) is None:
                continue
            name = data.get(class_key)
            if name is None:
                raise nested_error(f"{kwargs_key} needs {class_key} (the class they are for)",
                                   section, kwargs_key)
            try:
                cls = registry.get(name)
                data[kwargs_key] = validate_class_kwargs(cls, data[kwargs_key], skip)
            except ValidationError as exc:
                raise reraise_nested(exc, data[kwargs_key], section, kwargs_key) from None
        her = dumped["hyperparams"].get("replay_buffer_class") == "HerReplayBuffer"
        if her and not (policy == "MultiInputPolicy" or is_path(policy)):
            raise nested_error("HerReplayBuffer stores dict observations (observation, "
                               "achieved_goal, desired_goal): use policy MultiInputPolicy",
                               "policy")
        object.__setattr__(self, "policy", policy)
        object.__setattr__(self, "hyperparams", dumped["hyperparams"])
        object.__setattr__(self, "policy_kwargs", dumped["policy_kwargs"])
        self._hp, self._pk = checked["hyperparams"], checked["policy_kwargs"]
        return self

    @property
    def entry(self) -> AlgorithmEntry:
        """The algorithm's registry entry."""
        return ALGORITHMS.get(self.name)

    def hyperparam_values(self) -> dict[str, Any]:
        """The hyperparameters the config sets, as validated objects."""
        return {k: getattr(self._hp, k) for k in self._hp.model_fields_set}

    def policy_kwarg_values(self) -> dict[str, Any]:
        """The policy kwargs the config sets, as validated objects."""
        return {k: getattr(self._pk, k) for k in self._pk.model_fields_set}

    def hyperparam(self, name: str, default: Any = None) -> Any:
        """One hyperparameter: the configured value, else the algorithm's default, else ``default``."""
        value = getattr(self._hp, name, default)
        return default if value is None else value
