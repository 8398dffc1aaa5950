"""The algorithm registry (SB3, sb3-contrib and hlynr algorithms), activations and optimizers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hlynr.registries.base import Registry, load_object


@dataclass(frozen=True)
class AlgorithmEntry:
    """An algorithm class (imported lazily) and what it can act on."""

    import_path: str  # "module:Class"
    default_policy: str
    action_spaces: tuple[type, ...]
    """The gymnasium space classes it can act on."""
    recurrent: bool = False
    entropy_coef: bool = False  # has a float ``ent_coef`` that a schedule may change each rollout
    off_policy: bool = False
    centralised_critic: bool = False
    """Its critic reads the global state the env publishes (:class:`CriticStateSource`)."""
    agent_rows: bool = False
    """It fills a replay buffer of agent rows from a :class:`LiveRowsSource` (the registered
    ``RowReplayBuffer``) and takes ``updates_per_row``."""

    def load(self) -> type[Any]:
        """Import and return the algorithm class."""
        return load_object(self.import_path)


ALGORITHMS: Registry[AlgorithmEntry] = Registry("algorithm")
ACTIVATIONS: Registry[Any] = Registry("activation")
"""Names of ``torch.nn`` activation classes for ``policy_kwargs.activation_fn``."""
OPTIMIZERS: Registry[Any] = Registry("optimizer")
"""Names of ``torch.optim`` classes for ``policy_kwargs.optimizer_class``."""
REPLAY_BUFFERS: Registry[Any] = Registry("replay buffer")
"""Names of SB3 replay buffer classes for ``algo.hyperparams.replay_buffer_class``."""
FEATURES_EXTRACTORS: Registry[Any] = Registry("features extractor")
"""Names of SB3 features extractor classes for ``policy_kwargs.features_extractor_class``."""
