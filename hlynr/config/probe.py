"""The probe env: what the checks across config sections know of the env, from one built copy.

:func:`env_probe` builds one env copy of a config (with its env-level wrappers; a batched VecEnv
when only that publishes what the checks need: a critic state, live agent rows or a privileged
observation) and keeps what the checks read as an :class:`EnvProbe`. Probes are kept in an LRU
cache keyed by the plain data a probe is built from (:func:`probe_key`), so the cache hits across
validations and holds no config. A :class:`LazyProbe` is the probe of one validation, built (or
looked up) only when a check first asks for it; :class:`ProbeFailed` says that the env could not
be built.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from hlynr.config.schema import ComponentSpec, ExperimentConfig, PettingZooEnvConfig
from hlynr.registries import (
    BATCHED_ENVS,
    REPLAY_BUFFERS,
    WRAPPERS,
    ChecksSpaces,
    CriticStateSource,
    LiveRowsSource,
    PrivilegedObservationSource,
    WrapContext,
)

Problem = tuple[tuple[Any, ...], str] | None
"""``(key path, message)`` of a problem, or None."""


@dataclass(frozen=True)
class EnvProbe:
    """What the checks know of the env from one built copy (one VecEnv row's spaces)."""

    observation_space: Any
    """After the env-level wrappers (PettingZoo, batched: one agent's or row's)."""
    action_space: Any
    rows: int
    """VecEnv rows per env copy (PettingZoo: one per agent)."""
    critic_state: bool
    """Batched probes only: the VecEnv publishes a critic state."""
    wrapper_problem: Problem = None
    """``((k, *sub-path), message)``: env-level wrapper ``k`` does not fit the env."""
    privileged_space: Any = None
    """Batched probes only: the space of the privileged observation the VecEnv publishes."""
    privileged_overrides: dict[str, Any] | None = None
    """Batched probes only: the env parameters whose observation the privileged one is."""
    live_rows: bool = False
    """Batched probes only: the VecEnv says which rows carry a live agent (agent rows)."""


_PROBE_CACHE_SIZE = 32
_probes: OrderedDict[str, EnvProbe] = OrderedDict()
_probes_lock = threading.Lock()


class ProbeFailed(Exception):
    """The probe env could not be built; ``problem`` says so at the env's key."""

    def __init__(self, problem: tuple[tuple[Any, ...], str]) -> None:
        super().__init__(problem[1])
        self.problem = problem


class LazyProbe:
    """The probe of one validation: looked up (or built) on first use, then kept."""

    def __init__(self, config: ExperimentConfig) -> None:
        self.config = config
        self._probe: EnvProbe | None = None

    def __call__(self) -> EnvProbe:
        if self._probe is None:
            self._probe = env_probe(self.config)
        return self._probe


def _batched_probe(config: ExperimentConfig) -> bool:
    """A critic state, live agent rows and a privileged observation are only published by the
    batched VecEnv: then the probe is one, else a single env (PettingZoo: a ParallelEnv)."""
    if config.env.vectoriser != "batched":
        return False
    return config.algo.entry.centralised_critic or row_buffer_key(config) is not None or (
        _truth_teacher(config) and config.env.type == "gymnasium" and config.env.id in BATCHED_ENVS)


def _truth_teacher(config: ExperimentConfig) -> bool:
    pre = config.pretrain
    return pre is not None and pre.teacher is not None and pre.teacher.observes == "truth"


def is_row_buffer(name: str | None) -> bool:
    """Whether the replay buffer named ``name`` is (a subclass of) the row replay buffer."""
    return name is not None and issubclass(REPLAY_BUFFERS.get(name), REPLAY_BUFFERS.get("RowReplayBuffer"))


def row_buffer_key(config: ExperimentConfig) -> str | None:
    """``updates_per_row`` or ``replay_buffer_class`` when the config asks for the row replay
    buffer (the first of the two it sets), else None."""
    hp = config.algo.hyperparams
    if "updates_per_row" in hp:
        return "updates_per_row"
    return "replay_buffer_class" if is_row_buffer(hp.get("replay_buffer_class")) else None


def env_level(config: ExperimentConfig) -> list[tuple[int, ComponentSpec]]:
    """``(index in wrappers, spec)`` of the wrappers applied to each single env."""
    if config.env.type == "pettingzoo":
        return []
    return [(i, spec) for i, spec in enumerate(config.wrappers)
            if WRAPPERS.get(spec.name).level_for(config.vectoriser) == "env"]


def probe_key(config: ExperimentConfig) -> str:
    """The plain data a probe is built from, as JSON: the probe cache's key."""
    env = config.env
    batched = _batched_probe(config)
    wrappers = [] if batched else [spec.model_dump(mode="json") for _, spec in env_level(config)]
    return json.dumps({"batched": batched, "type": env.type, "id": env.id, "kwargs": env.kwargs,
                       "wrappers": wrappers}, sort_keys=True, default=str)


def env_probe(config: ExperimentConfig) -> EnvProbe:
    """The probe of ``config``'s env: from the cache, else built (one env copy) and cached."""
    key = probe_key(config)
    with _probes_lock:
        probe = _probes.get(key)
        if probe is not None:
            _probes.move_to_end(key)
            return probe
    probe = _build_probe(config)
    with _probes_lock:
        _probes[key] = probe
        while len(_probes) > _PROBE_CACHE_SIZE:
            _probes.popitem(last=False)
    return probe


def clear_probe_cache() -> None:
    """Forget every probe (the next validation of any env builds one again)."""
    with _probes_lock:
        _probes.clear()


def _build_probe(config: ExperimentConfig) -> EnvProbe:
    env_cfg = config.env
    try:
        if _batched_probe(config):
            venv = BATCHED_ENVS.get(env_cfg.id)(n_envs=1, seed=0, **env_cfg.kwargs)
            try:
                critic = (isinstance(venv, CriticStateSource)
                          and venv.critic_observation_space is not None)
                privileged = isinstance(venv, PrivilegedObservationSource)
                return EnvProbe(venv.observation_space, venv.action_space, venv.num_envs, critic,
                                privileged_space=venv.privileged_observation_space if privileged else None,
                                privileged_overrides=venv.privileged_env_overrides if privileged else None,
                                live_rows=isinstance(venv, LiveRowsSource))
            finally:
                venv.close()
        env: Any = env_cfg.make_single()
    except (ValueError, AssertionError) as exc:
        raise ProbeFailed((("env",), f"building {env_cfg.id} to check the config failed: "
                                     f"{exc}")) from None
    try:
        if isinstance(env_cfg, PettingZooEnvConfig):
            agent = env.possible_agents[0]
            return EnvProbe(env.observation_space(agent), env.action_space(agent),
                            len(env.possible_agents), False)
        problem: Problem = None
        ctx = WrapContext(training=False)
        for k, (_, spec) in enumerate(env_level(config)):
            if isinstance(spec.params, ChecksSpaces):
                found = spec.params.check_spaces(env.observation_space, env.action_space)
                if found:
                    problem = (k, *found[0]), found[1]
                    break
            wrap = WRAPPERS.get(spec.name).env
            assert wrap is not None
            try:
                env = wrap(env, spec.params, ctx)
            except (ValueError, AssertionError) as exc:
                problem = (k,), f"'{spec.name}' cannot wrap {env_cfg.id}: {exc}"
                break
        return EnvProbe(env.observation_space, env.action_space, 1, False, problem)
    finally:
        env.close()


__all__ = ["EnvProbe", "LazyProbe", "Problem", "ProbeFailed", "clear_probe_cache", "env_level",
           "env_probe", "is_row_buffer", "probe_key", "row_buffer_key"]
