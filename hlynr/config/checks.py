"""Every check across config sections, run once after each section has been validated.

:func:`hlynr.config.validate_config` validates each section (``ExperimentConfig``), then calls
:func:`check_config`, which runs, in this order, and reports the first problem with its key path:

* the wrapper chain: env-level wrappers before vec-level ones, none that wraps single envs under
  a vectoriser that has none, and each wrapper's own place in the chain (:class:`ChecksChain`,
  e.g. ``residual_guidance``);
* callbacks against the algorithm, and each callback's own check against the config
  (:class:`ChecksConfig`, e.g. curriculum stages against the env's parameters);
* env-level wrappers against the env they wrap (:class:`ChecksSpaces`, e.g. ``mask_observation``
  indices against the observation's length; any wrapper that fails to wrap the probe env);
* the algorithm can act on the env's action space (gSDE needs continuous actions);
* on-policy rollouts: ``n_steps * env rows > 1`` and ``1 < batch_size <= n_steps * env rows``;
* episodic ``train_freq`` (``[k, episode]``) needs a single env;
* an evaluation at a curriculum stage index needs a curriculum with that stage;
* a centralised or privileged critic needs a batched VecEnv that publishes a critic state
  (:class:`~hlynr.registries.CriticStateSource`);
* ``updates_per_row`` and ``replay_buffer_class: RowReplayBuffer`` need a batched VecEnv of
  multi-agent rows (:class:`~hlynr.registries.LiveRowsSource`) and an algorithm that fills the
  row buffer; ``updates_per_row`` excludes ``gradient_steps`` and another buffer;
* ``huber_delta`` only with ``value_loss: huber``;
* the ``pretrain:`` section against the algorithm, wrappers, curriculum and env (the teacher
  drives the env through the config's own sensor path and accepts its spaces; a truth-fed
  teacher needs a batched VecEnv that publishes a privileged observation,
  :class:`~hlynr.registries.PrivilegedObservationSource`);
* the ``tune:`` search space: every candidate value of every tuned key gives a valid config
  (all of its problems are reported, not just the first).

The checks that need the env read one probe env (:func:`env_probe`): one env copy is built per
validation at most, and none when the same env was probed before; the cache is keyed by the
plain data the probe is built from, so it hits across validations and holds no config.
"""

from __future__ import annotations

import copy
import json
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from hlynr.config.env import merged_kwargs
from hlynr.config.loader import (
    ConfigError,
    Origin,
    dotted,
    error_message,
    format_problems,
    specific_errors,
    user_loc,
    where_written,
)
from hlynr.config.pretrain import (
    CLOSED_FORM_ENTROPY,
    DETERMINISTIC,
    FEED_FORWARD,
    ON_POLICY,
    RECURRENT,
    STOCHASTIC,
    PretrainConfig,
)
from hlynr.config.schema import ComponentSpec, ExperimentConfig, PettingZooEnvConfig, dump_config
from hlynr.config.signatures import policy_kwargs_model
from hlynr.config.stages import StageError, resolve_stage
from hlynr.config.tuning import (
    MISSING,
    condition_values,
    get_path,
    same_value,
    set_path,
    split_path,
    trial_config_data,
)
from hlynr.registries import (
    BASELINES,
    BATCHED_ENVS,
    CALLBACKS,
    ENV_PARAMS,
    PETTINGZOO_ENVS,
    REPLAY_BUFFERS,
    WRAPPERS,
    ChecksChain,
    ChecksConfig,
    ChecksSpaces,
    CriticStateSource,
    LiveRowsSource,
    PrivilegedObservationSource,
    WrapContext,
)

Problem = tuple[tuple[Any, ...], str] | None
"""``(key path, message)`` of a problem, or None."""
Lines = Mapping[tuple[Any, ...], Origin]
"""Where each key path was written: ``(file or "--set", line)``."""


def check_config(config: ExperimentConfig, source: str = "<config>",
                 origins: Lines | None = None) -> None:
    """Run every cross-section check of ``config`` (its sections already valid) once; raise
    :class:`ConfigError` naming the file, line and key of the first problem."""
    problem = first_problem(config)
    if problem is not None:
        raise ConfigError(format_problems([problem], source, dict(origins or {})))
    if config.tune is not None:
        check_search_space(config, source, origins)


def first_problem(config: ExperimentConfig) -> Problem:
    """The first cross-section problem of ``config`` (not its search space), or None."""
    env = _Probe(config)
    try:
        for check in _CHECKS:
            problem = check(config, env)
            if problem:
                return problem
    except _ProbeFailed as exc:
        return exc.problem
    return None


# --- the probe env ----------------------------------------------------------------------------


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


class _ProbeFailed(Exception):
    """The probe env could not be built; ``problem`` says so at the env's key."""

    def __init__(self, problem: tuple[tuple[Any, ...], str]) -> None:
        super().__init__(problem[1])
        self.problem = problem


class _Probe:
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
    return config.algo.entry.centralised_critic or _row_buffer_key(config) is not None or (
        _truth_teacher(config) and config.env.type == "gymnasium" and config.env.id in BATCHED_ENVS)


def _truth_teacher(config: ExperimentConfig) -> bool:
    pre = config.pretrain
    return pre is not None and pre.teacher is not None and pre.teacher.observes == "truth"


def _env_level(config: ExperimentConfig) -> list[tuple[int, ComponentSpec]]:
    """``(index in wrappers, spec)`` of the wrappers applied to each single env."""
    if config.env.type == "pettingzoo":
        return []
    return [(i, spec) for i, spec in enumerate(config.wrappers)
            if WRAPPERS.get(spec.name).level_for(config.vectoriser) == "env"]


def probe_key(config: ExperimentConfig) -> str:
    """The plain data a probe is built from, as JSON: the probe cache's key."""
    env = config.env
    batched = _batched_probe(config)
    wrappers = [] if batched else [spec.model_dump(mode="json") for _, spec in _env_level(config)]
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
        raise _ProbeFailed((("env",), f"building {env_cfg.id} to check the config failed: "
                                      f"{exc}")) from None
    try:
        if isinstance(env_cfg, PettingZooEnvConfig):
            agent = env.possible_agents[0]
            return EnvProbe(env.observation_space(agent), env.action_space(agent),
                            len(env.possible_agents), False)
        problem: Problem = None
        ctx = WrapContext(training=False)
        for k, (_, spec) in enumerate(_env_level(config)):
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


# --- the checks, in order ----------------------------------------------------------------------


def _check_wrapper_chain(config: ExperimentConfig, env: _Probe) -> Problem:
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


def _check_callbacks(config: ExperimentConfig, env: _Probe) -> Problem:
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


def _check_wrappers_fit_env(config: ExperimentConfig, env: _Probe) -> Problem:
    problem = env().wrapper_problem
    if problem is None:
        return None
    (k, *path), msg = problem
    index, spec = _env_level(config)[k]
    return ("wrappers", index, spec.name, *path), msg


def _check_action_space(config: ExperimentConfig, env: _Probe) -> Problem:
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


def _check_rollout(config: ExperimentConfig, env: _Probe) -> Problem:
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


def _check_train_freq(config: ExperimentConfig, env: _Probe) -> Problem:
    freq = config.algo.hyperparams.get("train_freq")
    if isinstance(freq, (list, tuple)) and len(freq) == 2 and str(freq[1]) == "episode":
        if config.env.n_envs > 1:
            return ("algo", "hyperparams", "train_freq"), (
                f"train_freq counted in episodes needs a single env (n_envs is "
                f"{config.env.n_envs}): count it in steps, e.g. [{freq[0]}, step]")
    return None


def _check_quantiles(config: ExperimentConfig, env: _Probe) -> Problem:
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


def _check_evaluation_stage(config: ExperimentConfig, env: _Probe) -> Problem:
    for i, spec in enumerate(config.callbacks):
        stage = getattr(spec.params, "stage", None) if spec.name == "evaluation" else None
        if stage is None:
            continue
        try:
            resolve_stage(config.stages, stage)
        except StageError as exc:
            return ("callbacks", i, spec.name, "stage"), str(exc)
    return None


def _check_global_state(config: ExperimentConfig, env: _Probe) -> Problem:
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


def _is_row_buffer(name: str | None) -> bool:
    """Whether the replay buffer named ``name`` is (a subclass of) the row replay buffer."""
    return name is not None and issubclass(REPLAY_BUFFERS.get(name), REPLAY_BUFFERS.get("RowReplayBuffer"))


def _row_buffer_key(config: ExperimentConfig) -> str | None:
    """``updates_per_row`` or ``replay_buffer_class`` when the config asks for the row replay
    buffer (the first of the two it sets), else None."""
    hp = config.algo.hyperparams
    if "updates_per_row" in hp:
        return "updates_per_row"
    return "replay_buffer_class" if _is_row_buffer(hp.get("replay_buffer_class")) else None


def _check_agent_rows(config: ExperimentConfig, env: _Probe) -> Problem:
    key = _row_buffer_key(config)
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
    if name is not None and not _is_row_buffer(name):
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


def _check_value_loss(config: ExperimentConfig, env: _Probe) -> Problem:
    if (config.algo.hyperparam("huber_delta", None) is not None
            and config.algo.hyperparam("value_loss", "mse") != "huber"):
        return ("algo", "hyperparams", "huber_delta"), (
            "huber_delta applies only with value_loss: huber (the value loss is "
            f"{config.algo.hyperparam('value_loss', 'mse')})")
    return None


# --- pretrain: the section against the algorithm, wrappers, curriculum and env ----------------


def _check_pretrain(config: ExperimentConfig, env: _Probe) -> Problem:
    pre = config.pretrain
    if pre is None:
        return None
    algo = config.algo.name
    if algo not in FEED_FORWARD + RECURRENT:
        return ("pretrain",), (f"pretraining supports {', '.join(FEED_FORWARD + RECURRENT)}, "
                               f"not {algo}")
    cloning = pre.teacher is not None
    if pre.freeze_normalization and not any(w.name == "normalize" for w in config.wrappers):
        return ("pretrain", "freeze_normalization"), (
            "there are no normalisation statistics to freeze: the config has no normalize wrapper")
    if cloning and pre.loss == "nll" and algo not in STOCHASTIC:
        return ("pretrain", "loss"), (f"{algo}'s actor is deterministic: use loss: mse")
    if cloning and pre.entropy_weight > 0 and algo not in CLOSED_FORM_ENTROPY:
        return ("pretrain", "entropy_weight"), (
            f"{algo}'s policy has no closed-form entropy: set entropy_weight: 0")
    if pre.critic_warmup is not None and algo not in ON_POLICY:
        return ("pretrain", "critic_warmup"), (
            f"the critic warm-up fits the value function of on-policy algorithms "
            f"({', '.join(ON_POLICY)}), not {algo}'s Q-functions")
    problem = _check_regularizer(pre, algo)
    if problem is not None:
        return problem
    if pre.regularizer is not None and pre.regularizer.loss == "bc" and pre.teacher is None:
        return ("pretrain", "regularizer", "loss"), (
            "loss: bc needs this run's teacher data: use loss: kl (TD3: mse) with from_run")
    for i, spec in enumerate(config.wrappers):
        if spec.name == "residual_guidance":
            return ("wrappers", i), ("pretrain clones full commands: it cannot be combined "
                                     "with residual_guidance")
    if pre.stages is not None:
        problem = _check_pretrain_stages(pre, config)
        if problem:
            return problem
    if pre.from_run is not None:
        folder = Path(pre.from_run) / "pretrain"
        if not (folder / "model.zip").is_file():
            return ("pretrain", "from_run"), f"{pre.from_run} has no pretrained model ({folder})"
        return None
    return _check_teacher(pre, config, env)


def _check_pretrain_stages(pre: PretrainConfig, config: ExperimentConfig) -> Problem:
    assert pre.stages is not None
    if pre.teacher is None:
        return ("pretrain", "stages"), "stages spread the teacher's data: they need a teacher"
    if config.callback("curriculum") is None:
        return ("pretrain", "stages"), ("stages need a curriculum callback (it sets every env "
                                        "copy to its stage when RL starts)")
    if len(pre.stages) > config.env.n_envs:
        return ("pretrain", "stages"), (f"{len(pre.stages)} stages need at least as many env "
                                        f"copies (env.n_envs is {config.env.n_envs})")
    problem = stage_params_problem(config, pre.stages)
    return None if problem is None else (("pretrain", "stages", *problem[0]), problem[1])


def _check_regularizer(pre: PretrainConfig, algo: str) -> Problem:
    reg = pre.regularizer
    if reg is None:
        return None
    if reg.loss == "kl" and algo in DETERMINISTIC:
        return ("pretrain", "regularizer", "loss"), (
            f"{algo}'s actor is deterministic and has no KL: use loss: mse (squared distance "
            "to the snapshot's action) or loss: bc")
    if reg.loss == "mse" and algo not in DETERMINISTIC:
        return ("pretrain", "regularizer", "loss"), (
            f"loss: mse is for deterministic actors ({', '.join(DETERMINISTIC)}); "
            f"{algo} uses loss: kl")
    return None


def _check_teacher(pre: PretrainConfig, config: ExperimentConfig, env: _Probe) -> Problem:
    assert pre.teacher is not None
    entry = BASELINES.get(pre.teacher.name)
    if config.env.id not in entry.env_ids:
        return ("pretrain", "teacher", "name"), (
            f"teacher '{pre.teacher.name}' cannot drive {config.env.id}: it drives "
            f"{', '.join(entry.env_ids)}")
    truth = pre.teacher.observes == "truth"
    if truth:
        problem = _privileged_problem(config, env)
        if problem:
            return ("pretrain", "teacher", "observes"), f"observes: truth {problem}"
    probe = env()  # the spaces after the task's (env-level) wrappers
    problem = baseline_env_problem(entry, config, probe.privileged_overrides if truth else None)
    if problem:
        sees = (f"env as with {probe.privileged_overrides} (observes: truth)" if truth
                else "student's own sensor path")
        return ("pretrain", "teacher", "name"), (
            f"teacher '{pre.teacher.name}' {problem}; the teacher sees the {sees}")
    space = probe.privileged_space if truth else probe.observation_space
    try:
        entry.policy(space, probe.action_space, pre.teacher.params)
    except ValueError as exc:
        return ("pretrain", "teacher", "name"), f"the teacher cannot drive this env: {exc}"
    return None


def _privileged_problem(config: ExperimentConfig, env: _Probe) -> str | None:
    """Why the env of ``config`` cannot show a teacher the truth, or None."""
    where = f"env '{config.env.id}'"
    if config.env.type != "gymnasium" or config.env.id not in BATCHED_ENVS:
        return f"needs a batched engine that publishes the true state; {where} has none"
    if config.env.vectoriser != "batched":
        return (f"needs env.vectoriser: batched ({where} with vectoriser "
                f"'{config.env.vectoriser}' publishes no true state)")
    if env().privileged_space is None:
        return f"needs a batched engine that publishes the true state; that of {where} does not"
    for spec in config.wrappers:
        if WRAPPERS.get(spec.name).env is not None:  # a task wrapper (sensor model, time limit)
            return (f"shows the teacher the engine's own observation, which the task wrapper "
                    f"'{spec.name}' would not reach: remove it or use observes: own")
    return None


_CHECKS = (_check_wrapper_chain, _check_callbacks, _check_wrappers_fit_env, _check_action_space,
           _check_rollout, _check_train_freq, _check_quantiles, _check_evaluation_stage,
           _check_global_state, _check_agent_rows, _check_value_loss, _check_pretrain)


# --- helpers of the components' own checks ----------------------------------------------------


def stage_params_problem(config: Any, stages: list[dict[str, Any]]) -> Problem:
    """The first of ``stages`` (env parameters) that the env's parameter model rejects, as
    ``((index, *key path), message)``, or None. Envs without a registered parameter model are
    checked when the parameters are applied (unknown attributes fail there)."""
    env = config.env
    model = None
    if env.type == "pettingzoo":
        model = PETTINGZOO_ENVS.get(env.id).params
    elif env.id in ENV_PARAMS:
        model = ENV_PARAMS.get(env.id)
    if model is None:
        return None
    for i, stage in enumerate(stages):
        try:
            model.model_validate({**env.kwargs, **stage})
        except ValidationError as exc:
            err = exc.errors()[0]
            return (i, *user_loc(err, {**env.kwargs, **stage})), error_message(err)
    return None


def baseline_env_problem(entry: Any, config: ExperimentConfig,
                         sees: dict[str, Any] | None = None) -> str | None:
    """What the config's env lacks that the baseline ``entry`` needs (its ``env_overrides``,
    e.g. ``sensor: {filter: ca}``), as ``"needs env.kwargs... (the config has ...)"``, or None.

    A baseline used inside training (residual guidance, a teacher) must act through the
    config's own sensor path, so its needs are checked rather than applied. ``sees``: env
    parameters merged into the config's first (a truth-fed teacher sees the env as with
    ``sensor: {mode: truth}``).
    """
    if not entry.env_overrides:
        return None
    kwargs = merged_kwargs(config.env.kwargs, sees) if sees else config.env.kwargs
    env = ENV_PARAMS.get(config.env.id).model_validate(kwargs)
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


# --- tune: the search space against the config -------------------------------------------------


def base_config(config: ExperimentConfig) -> dict[str, Any]:
    """The plain-data config that trials start from: resolved, without the ``tune`` section.

    When ``algo.name`` is tuned and ``algo.policy`` is the algorithm's default, the policy is
    left out so that each trial gets its own algorithm's default (e.g. MlpLstmPolicy for
    RecurrentPPO).
    """
    raw = dump_config(config)
    for key in ("seeds", "grid"):  # a trial is one run per tune seed
        raw.pop(key, None)
    tune = raw.pop("tune", None) or {}
    params = tune.get("params", {})
    if "algo.name" in params and "algo.policy" not in params:
        if config.algo.policy == config.algo.entry.default_policy:
            raw["algo"].pop("policy", None)
    return raw


def validation_lines(data: dict[str, Any]) -> list[str]:
    """The problems of plain config data, one ``key.path: message`` line each (none if valid)."""
    try:
        config = ExperimentConfig.model_validate(data)
    except ValidationError as exc:
        lines = []
        for loc, error in specific_errors(exc, data):
            line = f"{dotted(loc) or '(top level)'}: {error_message(error)}"
            if line not in lines:
                lines.append(line)
        return lines
    problem = first_problem(config)
    return [] if problem is None else [f"{dotted(problem[0]) or '(top level)'}: {problem[1]}"]


def check_search_space(config: ExperimentConfig, source: str = "<config>",
                       lines: Lines | None = None) -> None:
    """Check a config's ``tune`` section against the config; raise one :class:`ConfigError`.

    Every candidate value of every tuned key (both bounds, every choice) is written into the
    config, together with the values its conditions require, and the result validated like a
    config file, so misspelt keys and out-of-range values are named before any trial runs.
    """
    tune = config.tune
    if tune is None:
        raise ConfigError(f"{source}: no 'tune:' section: add one with the search space "
                          "(see docs/tuning.md)")
    origins = dict(lines or {})
    problems: list[str] = []

    def problem(msg: str, *path: Any) -> None:
        loc = ("tune",) + path
        problems.append(f"  {where_written(loc, origins, source)}: {dotted(loc)}: {msg}")

    evaluation = config.callback("evaluation")
    timesteps = tune.timesteps or config.total_timesteps
    if evaluation is None:
        problem("the objective is computed from evaluations: add an 'evaluation' callback "
                "(e.g. '- evaluation: {every: 10000, episodes: 10}')")
    else:
        n_evals = timesteps // evaluation.every
        if n_evals == 0:
            problem(f"no evaluation would run: a trial trains {timesteps} timesteps and "
                    f"evaluation.every is {evaluation.every}; lower 'every' or raise "
                    "tune.timesteps", "timesteps")
        elif tune.objective.k is not None and tune.objective.k > n_evals:
            problem(f"k = {tune.objective.k} but a trial evaluates only {n_evals} time(s) "
                    f"({timesteps} timesteps / every {evaluation.every})", "objective", "k")

    base = base_config(config)
    for name, spec in tune.params.items():
        head = split_path(name)[0]
        if head in ("tune", "seed", "seeds", "grid", "total_timesteps", "name", "runs_dir"):
            what = {"tune": "the tune section itself", "seed": "set by tune.seeds",
                    "seeds": "set by tune.seeds", "grid": "a grid is not a search space",
                    "total_timesteps": "set by tune.timesteps", "name": "the run name",
                    "runs_dir": "where runs go"}[str(head)]
            problem(f"'{head}' cannot be tuned ({what})", "params", name)
            continue
        required: dict[str, Any] = {}
        before = len(problems)
        for key, want in spec.when.items():
            accepted = condition_values(want)
            if not accepted:
                problem("an empty list accepts no value: the parameter would never be sampled",
                        "params", name, "when", key)
                continue
            if key in tune.params:
                values = tune.params[key].candidates()
                if not any(same_value(a, v) for a in accepted for v in values):
                    problem(f"'{key}' is tuned over {values}, none of which is "
                            f"{accepted if len(accepted) > 1 else accepted[0]!r}: the parameter "
                            "would never be sampled", "params", name, "when", key)
                    continue
                required[key] = next(a for a in accepted if any(same_value(a, v) for v in values))
                continue
            actual = get_path(base, key)
            if actual is MISSING:
                problem(f"'{key}' is neither a key of the config nor a tuned parameter",
                        "params", name, "when", key)
            elif not any(same_value(actual, v) for v in accepted):
                problem(f"'{key}' is {actual!r} in the config and is not tuned, so this "
                        "condition never holds and the parameter would never be sampled",
                        "params", name, "when", key)
        if len(problems) > before:
            continue
        for value in spec.candidates():
            data = copy.deepcopy(base)
            try:
                for key, want in required.items():
                    set_path(data, key, want)
                data = trial_config_data(data, {name: value}, timesteps=timesteps,
                                         seed=config.seed)
            except ConfigError as exc:
                problem(str(exc), "params", name)
                break
            errors = validation_lines(data)
            if errors:
                cond = "".join(f", {k} = {v!r}" for k, v in required.items())
                problem(f"the value {value!r}{cond} gives an invalid config:\n      "
                        + "\n      ".join(errors), "params", name)
                break
    if problems:
        n = len(problems)
        raise ConfigError(f"invalid search space in {source} ({n} error{'s' if n > 1 else ''}; "
                          "no trial was run):\n" + "\n".join(problems))


__all__ = ["EnvProbe", "Lines", "Problem", "base_config", "baseline_env_problem", "check_config",
           "check_search_space", "clear_probe_cache", "env_probe", "first_problem", "probe_key",
           "stage_params_problem", "validation_lines"]
