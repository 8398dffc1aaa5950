"""The checks of one config section against the others (the wrappers, callbacks, algorithm and
env), each ``check(config, env) -> problem``; :mod:`hlynr.config.checks` runs them in order.

``env`` is the validation's :class:`~hlynr.config.probe.LazyProbe`: a check that needs the env's
spaces, rows or capabilities calls it, and only then is the probe env built (or found cached).
"""

from __future__ import annotations

from hlynr.config.probe import LazyProbe, Problem, env_level, is_row_buffer, row_buffer_key
from hlynr.config.schema import ExperimentConfig
from hlynr.config.signatures import policy_kwargs_model
from hlynr.config.stages import StageError, StageSelector, resolve_stage
from hlynr.registries import BATCHED_ENVS, CALLBACKS, WRAPPERS, ChecksChain, ChecksConfig


def check_wrapper_chain(config: ExperimentConfig, env: LazyProbe) -> Problem:
    vec_seen = False
    for i, spec in enumerate(config.wrappers):
        entry = WRAPPERS.get(spec.name)
        level = entry.level_for(config.vectoriser)
        if level == "vec" and entry.vec is None:
            if config.env.type == "pettingzoo":
                why = "a PettingZoo env's agents are rows of one VecEnv"
            else:
                why = "the batched vectoriser steps all envs as arrays; use vectoriser dummy or subproc"
            return ("wrappers", i), f"'{spec.name}' wraps single Gymnasium envs, and there are none: {why}"
        if isinstance(spec.params, ChecksChain):
            problem = spec.params.check_in_chain(config, i)
            if problem:
                path, msg = problem
                return ("wrappers", i, spec.name, *path), msg
        if level == "vec":
            vec_seen = True
        elif vec_seen:
            return ("wrappers", i), (f"'{spec.name}' wraps single envs and must come before the "
                                     "vectorised-env wrappers (frame_stack, normalize, ...)")
    return None


def check_callbacks(config: ExperimentConfig, env: LazyProbe) -> Problem:
    for i, spec in enumerate(config.callbacks):
        entry = CALLBACKS.get(spec.name)
        reason = entry.applies_to(config.algo.entry) if entry.applies_to else None
        if reason:
            return ("callbacks", i), f"'{spec.name}' cannot be used with {config.algo.name}: {reason}"
        if isinstance(spec.params, ChecksConfig):
            problem = spec.params.check_against(config)
            if problem:
                path, msg = problem
                return ("callbacks", i, spec.name, *path), msg
    return None


def check_wrappers_fit_env(config: ExperimentConfig, env: LazyProbe) -> Problem:
    problem = env().wrapper_problem
    if problem is None:
        return None
    (k, *path), msg = problem
    index, spec = env_level(config)[k]
    return ("wrappers", index, spec.name, *path), msg


def check_action_space(config: ExperimentConfig, env: LazyProbe) -> Problem:
    space_cls = type(env().action_space)
    supported = config.algo.entry.action_spaces
    env_id = config.env.id
    if not issubclass(space_cls, supported):
        names = ", ".join(s.__name__ for s in supported)
        return ("algo", "name"), (f"{config.algo.name} cannot act on {env_id}: its action space is "
                                  f"{space_cls.__name__}, {config.algo.name} supports {names}")
    if config.algo.hyperparam("use_sde", False) and space_cls.__name__ != "Box":
        return ("algo", "hyperparams", "use_sde"), (
            f"gSDE needs continuous actions; {env_id} has a {space_cls.__name__} action space")
    return None


def check_rollout(config: ExperimentConfig, env: LazyProbe) -> Problem:
    algo = config.algo
    if algo.entry.off_policy:
        return None
    n_steps = algo.hyperparam("n_steps")
    if n_steps is None:
        return None
    rows = config.env.n_envs * env().rows
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


def check_train_freq(config: ExperimentConfig, env: LazyProbe) -> Problem:
    freq = config.algo.hyperparams.get("train_freq")
    if isinstance(freq, (list, tuple)) and len(freq) == 2 and str(freq[1]) == "episode":
        if config.env.n_envs > 1:
            return ("algo", "hyperparams", "train_freq"), (
                f"train_freq counted in episodes needs a single env (n_envs is "
                f"{config.env.n_envs}): count it in steps, e.g. [{freq[0]}, step]")
    return None


def check_quantiles(config: ExperimentConfig, env: LazyProbe) -> Problem:
    """TQC's targets keep ``n_quantiles - top_quantiles_to_drop_per_net`` quantiles per critic."""
    drop = config.algo.hyperparam("top_quantiles_to_drop_per_net")
    if drop is None:
        return None
    field = policy_kwargs_model(config.algo.name, config.algo.policy or "MlpPolicy").model_fields.get("n_quantiles")
    n = config.algo.policy_kwargs.get("n_quantiles", field.default if field else None)
    if isinstance(n, int) and drop >= n:
        return ("algo", "hyperparams", "top_quantiles_to_drop_per_net"), (
            f"top_quantiles_to_drop_per_net ({drop}) must be smaller than n_quantiles ({n}): "
            "no target quantile would remain")
    return None


def check_evaluation_stage(config: ExperimentConfig, env: LazyProbe) -> Problem:
    for i, spec in enumerate(config.callbacks):
        if spec.name != "evaluation":
            continue
        several = spec.params.stages is not None
        where = ("callbacks", i, spec.name, "stages" if several else "stage")
        if several and not config.stages:
            return where, "'stages' evaluates at several curriculum stages, but the config has no curriculum"
        seen: dict[int | None, StageSelector] = {}
        for selector in spec.params.selectors():
            try:
                index, _ = resolve_stage(config.stages, selector)
            except StageError as exc:
                return where, str(exc)
            if index in seen and selector != "current" and seen[index] != "current":
                return where, f"{seen[index]!r} and {selector!r} are the same stage ({index})"
            seen[index] = selector
    return None


def check_global_state(config: ExperimentConfig, env: LazyProbe) -> Problem:
    if not config.algo.entry.centralised_critic:
        return None
    env_cfg, where = config.env, f"env '{config.env.id}'"
    problem = None
    if env_cfg.type != "pettingzoo" and env_cfg.id not in BATCHED_ENVS:
        problem = f"{where} is a single-agent Gymnasium env and publishes no global state"
    elif env_cfg.vectoriser != "batched":
        problem = (f"{where} with vectoriser '{env_cfg.vectoriser}' publishes no global state; use "
                   "vectoriser: batched")
    elif not env().critic_state:
        problem = f"the batched engine of {where} publishes no global state"
    if problem:
        return ("algo", "name"), f"{config.algo.name}'s centralised critic needs a global state: {problem}"
    return None


def check_agent_rows(config: ExperimentConfig, env: LazyProbe) -> Problem:
    key = row_buffer_key(config)
    if key is None:
        return None
    algo, hp, env_cfg = config.algo, config.algo.hyperparams, config.env
    where = ("algo", "hyperparams", key)
    what = ("updates_per_row counts the transitions a RowReplayBuffer stores" if key == "updates_per_row"
            else "RowReplayBuffer stores the rows of a batched VecEnv of multi-agent rows")
    if key == "updates_per_row" and "gradient_steps" in hp:
        return where, ("updates_per_row sets the gradient steps from the rows stored: give it or "
                       "gradient_steps, not both")
    name = hp.get("replay_buffer_class")
    if name is not None and not is_row_buffer(name):
        return where, f"{what}, and replay_buffer_class is {name}"
    if not algo.entry.agent_rows:
        return where, f"{what}, which {algo.name} does not fill (hlynr's SAC, TD3 and TQC do)"
    for other, bad in (("optimize_memory_usage", hp.get("optimize_memory_usage")),
                       ("n_steps", (hp.get("n_steps") or 1) > 1)):
        if bad:
            return where, f"{what}, which cannot hold {other}: {hp[other]}"
    if not env().live_rows:  # a batched VecEnv of agent rows (only batched probes can be one)
        return where, (f"{what}: env '{env_cfg.id}' with vectoriser '{env_cfg.vectoriser}' is not "
                       "one (use a PettingZoo env with vectoriser: batched)")
    return None


def check_value_loss(config: ExperimentConfig, env: LazyProbe) -> Problem:
    if (config.algo.hyperparam("huber_delta", None) is not None
            and config.algo.hyperparam("value_loss", "mse") != "huber"):
        return ("algo", "hyperparams", "huber_delta"), (
            "huber_delta applies only with value_loss: huber (the value loss is "
            f"{config.algo.hyperparam('value_loss', 'mse')})")
    return None


__all__ = ["check_action_space", "check_agent_rows", "check_callbacks", "check_evaluation_stage",
           "check_global_state", "check_quantiles", "check_rollout", "check_train_freq",
           "check_value_loss", "check_wrapper_chain", "check_wrappers_fit_env"]
