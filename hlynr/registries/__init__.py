"""The ground floor: every registry, its entry type, the typed protocols of a run and the
:class:`RunContext` protocol its components get.

Nothing here imports any other part of hlynr; ``hlynr.config`` validates against these
registries, and :mod:`hlynr.builtins` fills them with hlynr's own components on ``import hlynr``
(lazily: a component's module is imported when its entry is first looked up).
"""

from hlynr.registries.algorithms import (
    ACTIVATIONS,
    ALGORITHMS,
    FEATURES_EXTRACTORS,
    OPTIMIZERS,
    REPLAY_BUFFERS,
    AlgorithmEntry,
)
from hlynr.registries.base import Registry, UnknownNameError, suggest
from hlynr.registries.baselines import BASELINES, BaselineEntry, Policy
from hlynr.registries.callbacks import CALLBACKS, CallbackEntry
from hlynr.registries.context import EventLog, RunContext, StageInfo
from hlynr.registries.entities import EntityLayout, entity_layout_of
from hlynr.registries.envs import BATCHED_ENVS, ENV_PARAMS, PETTINGZOO_ENVS, PettingZooEntry
from hlynr.registries.protocols import (
    CallbackPhase,
    ChecksChain,
    ChecksConfig,
    ChecksSpaces,
    CriticStateSource,
    EvalResult,
    EvaluationListener,
    EvaluationSource,
    LiveRowsSource,
    MetricError,
    Phased,
    PreparesModel,
    PrivilegedObservationSource,
    Resumable,
    RunStatus,
    Stopper,
    TrainingDiverged,
    phase_of,
)
from hlynr.registries.wrappers import WRAPPERS, WrapContext, WrapperEntry

__all__ = [
    "ACTIVATIONS", "ALGORITHMS", "BASELINES", "BATCHED_ENVS", "CALLBACKS", "ENV_PARAMS",
    "FEATURES_EXTRACTORS", "OPTIMIZERS", "PETTINGZOO_ENVS", "REPLAY_BUFFERS", "WRAPPERS",
    "AlgorithmEntry", "BaselineEntry", "CallbackEntry", "CallbackPhase", "ChecksChain",
    "ChecksConfig", "ChecksSpaces", "CriticStateSource", "EntityLayout", "entity_layout_of",
    "EvalResult", "EvaluationListener",
    "EvaluationSource", "EventLog", "LiveRowsSource", "MetricError", "Phased", "Policy",
    "PettingZooEntry", "PreparesModel", "PrivilegedObservationSource", "Registry", "Resumable",
    "RunContext", "RunStatus", "StageInfo", "Stopper",
    "TrainingDiverged", "UnknownNameError", "WrapContext", "WrapperEntry", "phase_of", "suggest",
]
