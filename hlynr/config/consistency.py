"""Cross-key checks: what SB3 would reject (or silently mis-train) when the keys meet.

Each check returns ``(key path, message)`` for the first problem, before anything is built:

* the algorithm can act on the env's action space (SAC on a discrete env is rejected; gSDE
  needs continuous actions);
* on-policy rollouts: ``n_steps * n_envs > 1`` and ``1 < batch_size <= n_steps * n_envs``
  (advantage normalisation needs two samples; a minibatch cannot exceed the rollout);
* episodic ``train_freq`` (``[k, episode]``) needs a single env;
* an evaluation at a curriculum stage index needs a curriculum with that stage;
* a centralised or privileged critic (MAPPO, AsymmetricPPO, RecurrentMAPPO,
  AsymmetricRecurrentPPO) needs an env whose batched VecEnv publishes a critic state
  (:class:`~hlynr.registries.CriticStateSource`);
* ``huber_delta`` only with ``value_loss: huber``.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from hlynr.config.stages import StageError, resolve_stage
from hlynr.registries import BATCHED_ENVS, ENV_PARAMS, CriticStateSource

if TYPE_CHECKING:
    from hlynr.config.schema import ExperimentConfig

Problem = tuple[tuple[Any, ...], str] | None

@lru_cache(maxsize=64)
def _env_facts(kind: str, env_id: str, kwargs_json: str, maker: Any) -> tuple[type, int]:
    """``(action space class, rows per env copy)``: PettingZoo copies hold one row per agent."""
    env = maker()
    try:
        if kind == "pettingzoo":
            return type(env.action_space(env.possible_agents[0])), len(env.possible_agents)
        return type(env.action_space), 1
    finally:
        env.close()


def env_facts(config: ExperimentConfig) -> tuple[type, int]:
    """The env's action space class and the number of VecEnv rows each env copy gives."""
    env = config.env
    return _env_facts(env.type, env.id, json.dumps(env.kwargs, sort_keys=True, default=str),
                      env.make_single)


def _check_action_space(config: ExperimentConfig) -> Problem:
    env = config.env
    space_cls, _ = env_facts(config)
    supported = config.algo.entry.action_spaces
    if not issubclass(space_cls, supported):
        names = ", ".join(s.__name__ for s in supported)
        return ("algo", "name"), (f"{config.algo.name} cannot act on {env.id}: its action space is "
                                  f"{space_cls.__name__}, {config.algo.name} supports {names}")
    if config.algo.hyperparam("use_sde", False) and space_cls.__name__ != "Box":
        return ("algo", "hyperparams", "use_sde"), (
            f"gSDE needs continuous actions; {env.id} has a {space_cls.__name__} action space")
    return None


def _check_rollout(config: ExperimentConfig) -> Problem:
    algo = config.algo
    if algo.entry.off_policy:
        return None
    n_steps = algo.hyperparam("n_steps")
    if n_steps is None:
        return None
    rows = config.env.n_envs * env_facts(config)[1]
    rollout = int(n_steps) * rows
    if rollout <= 1:
        return ("algo", "hyperparams", "n_steps"), (
            f"a rollout of n_steps x env rows = {rollout} sample cannot be trained on: make it >= 2")
    batch = algo.hyperparam("batch_size")
    if batch is None:
        return None
    given = "" if "batch_size" in algo.hyperparams else f" (the {algo.name} default)"
    if batch > rollout:
        return ("algo", "hyperparams", "batch_size"), (
            f"batch_size {batch}{given} is larger than the rollout n_steps x env rows = "
            f"{n_steps} x {rows} = {rollout}")
    if batch < 2 and algo.hyperparam("normalize_advantage", True):
        return ("algo", "hyperparams", "batch_size"), (
            "batch_size must be >= 2 when advantages are normalised (normalize_advantage)")
    return None


def _check_train_freq(config: ExperimentConfig) -> Problem:
    freq = config.algo.hyperparams.get("train_freq")
    if isinstance(freq, (list, tuple)) and len(freq) == 2 and str(freq[1]) == "episode":
        if config.env.n_envs > 1:
            return ("algo", "hyperparams", "train_freq"), (
                f"train_freq counted in episodes needs a single env (n_envs is "
                f"{config.env.n_envs}): count it in steps, e.g. [{freq[0]}, step]")
    return None


def _check_evaluation_stage(config: ExperimentConfig) -> Problem:
    for i, spec in enumerate(config.callbacks):
        stage = getattr(spec.params, "stage", None) if spec.name == "evaluation" else None
        if stage is None:
            continue
        try:
            resolve_stage(config.stages, stage)
        except StageError as exc:
            return ("callbacks", i, spec.name, "stage"), str(exc)
    return None


def _check_global_state(config: ExperimentConfig) -> Problem:
    if not config.algo.entry.centralised_critic:
        return None
    env, where = config.env, f"env '{config.env.id}'"
    problem = None
    if env.type != "pettingzoo" and env.id not in BATCHED_ENVS:
        problem = f"{where} is a single-agent Gymnasium env and publishes no global state"
    elif env.vectoriser != "batched":
        problem = (f"{where} with vectoriser '{env.vectoriser}' publishes no global state; use "
                   "vectoriser: batched")
    elif not _publishes_global_state(env.id, json.dumps(env.kwargs, sort_keys=True, default=str),
                                     lambda: BATCHED_ENVS.get(env.id)(n_envs=1, seed=0, **env.kwargs)):
        problem = f"the batched engine of {where} publishes no global state"
    if problem:
        return ("algo", "name"), f"{config.algo.name}'s centralised critic needs a global state: {problem}"
    return None


def _check_value_loss(config: ExperimentConfig) -> Problem:
    if (config.algo.hyperparam("huber_delta", None) is not None
            and config.algo.hyperparam("value_loss", "mse") != "huber"):
        return ("algo", "hyperparams", "huber_delta"), (
            "huber_delta applies only with value_loss: huber (the value loss is "
            f"{config.algo.hyperparam('value_loss', 'mse')})")
    return None


@lru_cache(maxsize=16)
def _publishes_global_state(env_id: str, kwargs_json: str, maker: Any) -> bool:
    venv = maker()
    try:
        return isinstance(venv, CriticStateSource) and venv.critic_observation_space is not None
    finally:
        venv.close()


def baseline_env_problem(entry: Any, config: ExperimentConfig) -> str | None:
    """What the config's env lacks that the baseline ``entry`` needs (its ``env_overrides``,
    e.g. ``sensor: {filter: ca}``), as ``"needs env.kwargs... (the config has ...)"``, or None.

    A baseline used inside training (residual guidance, a teacher) must act through the
    config's own sensor path, so its needs are checked rather than applied.
    """
    if not entry.env_overrides:
        return None
    env = ENV_PARAMS.get(config.env.id).model_validate(config.env.kwargs)
    for section, wanted in entry.env_overrides.items():
        have = getattr(env, section)
        pairs = wanted.items() if isinstance(wanted, dict) else [(None, wanted)]
        for key, value in pairs:
            current = have if key is None else getattr(have, key)
            if current != value:
                want = f"{section}: {value}" if key is None else f"{section}: {{{key}: {value}}}"
                now = f"{section}" + ("" if key is None else f".{key}") + f": {current}"
                return f"needs env.kwargs.{want} (the config has {now})"
    return None


def check_consistency(config: ExperimentConfig) -> Problem:
    """The first cross-key problem of ``config``, or None."""
    for check in (_check_action_space, _check_rollout, _check_train_freq, _check_evaluation_stage,
                  _check_global_state, _check_value_loss):
        problem = check(config)
        if problem:
            return problem
    return None
