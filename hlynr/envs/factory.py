"""Build the vectorised environment a config describes: env -> env wrappers -> vectoriser -> vec wrappers.

The same function builds training envs, evaluation envs (frozen normalisation, a chosen
curriculum stage) and baseline envs (only the wrappers that are part of the task, e.g. the
sensor model, without the learner's frame stacking and normalisation).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import gymnasium as gym
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import (
    DummyVecEnv,
    SubprocVecEnv,
    VecEnv,
    VecEnvWrapper,
    VecMonitor,
)
from stable_baselines3.common.vec_env.base_vec_env import VecEnvObs, VecEnvStepReturn

from hlynr.config.env import merged_kwargs
from hlynr.config.schema import ComponentSpec, ExperimentConfig, GymEnvConfig, PettingZooEnvConfig
from hlynr.registries import BATCHED_ENVS, WRAPPERS, WrapContext, suggest

CLOSE_TIMEOUT_S = 5.0
"""How long :meth:`WorkerVecEnv.close` waits for a worker's answer or exit before ending it."""


class ParamsAdapter(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Gives any Gymnasium env ``apply_params(**params)`` by setting attributes of the raw env.

    Used for curricula on envs that do not implement ``apply_params`` themselves (e.g.
    Pendulum's ``g``); an unknown attribute fails with a suggestion.
    """

    def __init__(self, env: gym.Env) -> None:
        gym.utils.RecordConstructorArgs.__init__(self)
        gym.Wrapper.__init__(self, env)

    def apply_params(self, **params: Any) -> None:
        """Set each parameter as an attribute of the unwrapped env (takes effect immediately)."""
        raw = self.env.unwrapped
        for key, value in params.items():
            if not hasattr(raw, key):
                known = [k for k in vars(raw) if not k.startswith("_")]
                raise ValueError(f"{type(raw).__name__} has no parameter '{key}'"
                                 f"{suggest(key, known)}")
            setattr(raw, key, value)


class WorkerVecEnv(SubprocVecEnv):
    """SB3's :class:`SubprocVecEnv` (one process per env) whose workers ignore Ctrl+C, and whose
    :meth:`close` also works when a worker is gone or does not answer.

    The training process handles Ctrl+C (it stops the run, saves and closes its workers); a
    worker killed by the terminal's SIGINT would end the run with a broken pipe instead.
    Build it inside :func:`workers_ignore_sigint` (as :func:`build_vec_env` does) so that a
    worker never sees the signal, even while it starts.
    """

    def __init__(self, env_fns: list[Callable[[], gym.Env]], start_method: str | None = None) -> None:
        super().__init__([_ignoring_sigint(fn) for fn in env_fns], start_method)

    def close(self) -> None:
        """Read answers still due, ask every worker to exit, end those that do not in time."""
        if self.closed:
            return
        self.closed = True
        for remote in self.remotes:
            try:
                if self.waiting and remote.poll(CLOSE_TIMEOUT_S):
                    remote.recv()  # the step it was asked for before an interruption
                remote.send(("close", None))
            except (EOFError, OSError):  # the worker is gone
                pass
        self.waiting = False
        for process in self.processes:
            process.join(CLOSE_TIMEOUT_S)
            if process.is_alive():
                process.terminate()
                process.join(CLOSE_TIMEOUT_S)
            if process.is_alive():
                process.kill()
                process.join()
        for remote in self.remotes:
            remote.close()


def _ignoring_sigint(fn: Callable[[], gym.Env]) -> Callable[[], gym.Env]:
    def make() -> gym.Env:  # runs first thing in the worker process
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        return fn()

    return make


@contextmanager
def workers_ignore_sigint() -> Iterator[None]:
    """Processes started inside the block ignore SIGINT from their start: forked, spawned, or
    forked by a fork server started inside it. Ctrl+C is the training process's to handle.

    SIGINT is ignored here too while the block runs, and blocked first: a Ctrl+C meanwhile then
    usually stays pending and is handled when the block ends (unless something inside unblocks
    it, as multiprocessing does when it starts its resource tracker). Workers also ignore SIGINT
    as they start, which covers a fork server started earlier elsewhere. Main thread only;
    elsewhere a no-op.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    handler = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, handler)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


class ObservationTap(VecEnvWrapper):
    """Remembers the task-level observation (after the sensor wrappers, before the learner's).

    ``build_vec_env(..., observation_tap=True)`` puts it between the two, so a teacher can act
    on exactly what a baseline sees while the learner's frame stack and normalisation run on
    top. ``obs`` is the latest observation (after automatic resets), ``infos`` the latest infos.
    """

    def __init__(self, venv: VecEnv) -> None:
        super().__init__(venv)
        self.obs: VecEnvObs | None = None
        self.infos: list[dict[str, Any]] = [{} for _ in range(venv.num_envs)]

    def reset(self) -> VecEnvObs:
        """Reset and remember the first observations."""
        self.obs = self.venv.reset()
        self.infos = [{} for _ in range(self.num_envs)]
        return self.obs

    def step_wait(self) -> VecEnvStepReturn:
        """Step and remember what the step returned."""
        obs, rewards, dones, infos = self.venv.step_wait()
        self.obs, self.infos = obs, infos
        return obs, rewards, dones, infos


def find_tap(venv: VecEnv) -> ObservationTap | None:
    """The :class:`ObservationTap` inside a VecEnv wrapper chain, or None."""
    while isinstance(venv, VecEnvWrapper):
        if isinstance(venv, ObservationTap):
            return venv
        venv = venv.venv
    return None


def remove_tap(venv: VecEnv) -> VecEnv:
    """``venv`` without its :class:`ObservationTap` (the chain then matches an evaluation env's).

    Returns the new outermost VecEnv (``venv`` itself unless the tap was outermost).
    """
    if isinstance(venv, ObservationTap):
        return venv.venv
    outer = venv
    while isinstance(outer, VecEnvWrapper):
        if isinstance(outer.venv, ObservationTap):
            outer.venv = outer.venv.venv
            break
        outer = outer.venv
    return venv


def _has_apply_params(env: gym.Env) -> bool:
    try:
        env.get_wrapper_attr("apply_params")
    except AttributeError:
        return False
    return True


def task_wrappers(config: ExperimentConfig) -> list[ComponentSpec]:
    """The wrappers that define the task (sensor model, time limit), not learner preprocessing."""
    return [w for w in config.wrappers if WRAPPERS.get(w.name).env is not None]


def _gym_env_fn(
    cfg: GymEnvConfig, env_specs: list[tuple[ComponentSpec, Any]], ctx: WrapContext,
    params: dict[str, Any] | None,
) -> Callable[[], gym.Env]:
    def make() -> gym.Env:
        env = cfg.make_single()
        if not _has_apply_params(env):
            env = ParamsAdapter(env)
        if params:
            env.get_wrapper_attr("apply_params")(**params)
        for spec, p in env_specs:
            env = WRAPPERS.get(spec.name).env(env, p, ctx)  # type: ignore[misc]
        return Monitor(env, **cfg.monitor_kwargs)

    return make


def reads_entity_slots(config: ExperimentConfig) -> bool:
    """Whether the policy's features extractor reads entity slots (takes an entity ``layout``)."""
    import inspect

    from hlynr.registries import FEATURES_EXTRACTORS

    name = config.algo.policy_kwargs.get("features_extractor_class")
    if not isinstance(name, str) or name not in FEATURES_EXTRACTORS:
        return False
    return "layout" in inspect.signature(FEATURES_EXTRACTORS.get(name)).parameters


def build_vec_env(
    config: ExperimentConfig,
    *,
    training: bool = True,
    n_envs: int | None = None,
    seed: int | None = None,
    stage_params: dict[str, Any] | None = None,
    env_overrides: dict[str, Any] | None = None,
    learner_wrappers: bool = True,
    vectoriser: str | None = None,
    observation_tap: bool = False,
) -> VecEnv:
    """Build the VecEnv for ``config``.

    :param training: False for evaluation envs (normalisation statistics frozen, raw rewards).
    :param n_envs: number of env copies (default ``config.env.n_envs``).
    :param seed: seed of the first env's first reset (default ``config.seed``).
    :param stage_params: env parameters applied before the first reset (a curriculum stage).
    :param env_overrides: entries merged into ``env.kwargs`` (see :func:`merged_kwargs`), e.g.
        ``{"sensor": {"mode": "truth"}}``.
    :param learner_wrappers: False to keep only wrappers that define the task (for baselines).
    :param vectoriser: override the config's vectoriser (e.g. ``dummy`` for evaluation).
    :param observation_tap: insert an :class:`ObservationTap` after the task's wrappers.
    """
    env_cfg = config.env
    n = n_envs or env_cfg.n_envs
    seed = config.seed if seed is None else seed
    if env_overrides:
        env_cfg = env_cfg.model_copy(update={"kwargs": merged_kwargs(env_cfg.kwargs, env_overrides)})
    gamma = float(config.algo.hyperparam("gamma", 0.99))
    ctx = WrapContext(training=training, gamma=gamma, reads_slots=reads_entity_slots(config))
    vec_kind = vectoriser if vectoriser and env_cfg.type == "gymnasium" else config.vectoriser
    specs = config.wrappers if learner_wrappers else task_wrappers(config)
    env_level = [(s, s.params) for s in specs if WRAPPERS.get(s.name).level_for(vec_kind) == "env"]
    vec_level = [(s, s.params) for s in specs if WRAPPERS.get(s.name).level_for(vec_kind) == "vec"]

    base: VecEnv | None = None
    try:
        with workers_ignore_sigint():  # Ctrl+C is the training process's to handle, not its workers'
            base = _vectorise(env_cfg, vec_kind, n, seed, env_level, ctx, stage_params)
        venv = base
        if stage_params and (env_cfg.type == "pettingzoo" or vec_kind == "batched"):
            venv.env_method("apply_params", **stage_params)
        if vec_kind == "batched" and env_cfg.type == "gymnasium":
            keywords = tuple(env_cfg.monitor_kwargs.get("info_keywords", ()))
            venv = VecMonitor(venv, info_keywords=keywords)
        venv.seed(seed)
        task = [WRAPPERS.get(s.name).env is not None for s, _ in vec_level]
        if observation_tap and any(task[i] and not task[i - 1] for i in range(1, len(task))):
            raise ValueError("a task wrapper comes after a learner wrapper: the teacher's "
                             "observation cannot be taken between them")
        tap_at = sum(task) if observation_tap else -1
        for i, (spec, p) in enumerate(vec_level):
            if i == tap_at:
                venv = ObservationTap(venv)
            venv = WRAPPERS.get(spec.name).vec(venv, p, ctx)  # type: ignore[misc]
        if tap_at == len(vec_level):
            venv = ObservationTap(venv)
    except BaseException:
        if base is not None:
            base.close()  # its worker processes
        raise
    return venv


def _vectorise(env_cfg: GymEnvConfig | PettingZooEnvConfig, vec_kind: str, n: int, seed: int,
               env_level: list[tuple[ComponentSpec, Any]], ctx: WrapContext,
               stage_params: dict[str, Any] | None) -> VecEnv:
    """``n`` copies of the env under the vectoriser ``vec_kind``, before any VecEnv wrapper."""
    if env_cfg.type == "pettingzoo":
        from hlynr.multiagent import build_pettingzoo_vec_env

        return build_pettingzoo_vec_env(env_cfg.id, dict(env_cfg.kwargs), n, env_cfg.num_cpus, seed,
                                        env_cfg.vectoriser, env_cfg.workers)
    if vec_kind == "batched":
        workers = getattr(env_cfg, "workers", 1)
        extra = {"workers": workers} if workers > 1 else {}
        return BATCHED_ENVS.get(env_cfg.id)(n_envs=n, seed=seed, **extra, **env_cfg.kwargs)
    fns = [_gym_env_fn(env_cfg, env_level, ctx, stage_params) for _ in range(n)]
    return WorkerVecEnv(fns) if vec_kind == "subproc" and n > 1 else DummyVecEnv(fns)
