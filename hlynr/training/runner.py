"""One training run: build env, model and callbacks from a config, train, save, summarise.

A run lives in ``<runs_dir>/<name>/<timestamp>/``:

* ``config.yaml``: the fully resolved config (``train.py --config`` on it reproduces the run);
* ``versions.json``: library versions the run used;
* ``progress.jsonl``: one JSON object per rollout, per evaluation and per event;
* ``tb/``: TensorBoard logs;
* ``checkpoints/step_<N>/``: resumable checkpoints; ``best/`` and ``final/``: saved models;
* ``summary.json``: status, timesteps, wall time, best evaluation.
* ``run.lock``: held by the training process (:mod:`hlynr.runs.lock`);
* ``control/``: save / stop requests and their answers (:mod:`hlynr.runs.control`).

Ctrl+C or SIGTERM stops training at the next step and saves a checkpoint before returning.
"""

from __future__ import annotations

import datetime as dt
import platform
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml
from stable_baselines3.common.callbacks import BaseCallback, CallbackList
from stable_baselines3.common.logger import configure
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm
from stable_baselines3.common.vec_env import VecEnv

import hlynr
from hlynr.algos.builder import build_model, load_model
from hlynr.callbacks.attention import AttentionSharpness, has_attention
from hlynr.callbacks.collapse import CollapseGuard
from hlynr.callbacks.evaluation import EvaluationCallback
from hlynr.callbacks.progress import InterruptCallback, ProgressCallback
from hlynr.config import ExperimentConfig, dump_config, load_config
from hlynr.envs.factory import build_vec_env, remove_tap
from hlynr.imitation.frozen_stats import freeze_normalization
from hlynr.imitation.pretrain import PretrainError, regularizer_for, run_pretraining
from hlynr.registries import (
    CALLBACKS,
    EvalResult,
    EvaluationListener,
    MetricError,
    Resumable,
    RunStatus,
    Stopper,
    TrainingDiverged,
)
from hlynr.runs.artifacts import (
    read_meta,
    save_model_dir,
    write_json,
    write_text_atomic,
)
from hlynr.runs.checkpoints import list_checkpoints
from hlynr.runs.control import ControlCallback
from hlynr.runs.lock import RunLock, RunLockedError, holder
from hlynr.runs.progress_log import ProgressLog
from hlynr.training.context import RunContext
from hlynr.training.errors import RunError
from hlynr.training.resume import newest_resumable
from hlynr.training.signals import StopFlag


@dataclass
class RunHooks:
    """Optional observers of a run (progress bars, tuners)."""

    on_step: Callable[[int], None] | None = None
    on_rollout: Callable[[dict[str, Any]], None] | None = None
    on_notice: Callable[[str], None] | None = None
    """One-line notices for the user (e.g. a damaged checkpoint passed over on resume)."""
    listeners: list[EvaluationListener] = field(default_factory=list)
    """Extra evaluation listeners (e.g. an Optuna pruner); returning False stops training."""


@dataclass
class RunResult:
    """How a run ended."""

    run_dir: Path
    status: RunStatus
    reason: str
    timesteps: int
    wall_time: float
    evaluations: list[EvalResult]
    best: dict[str, Any] | None


class _StepHook(BaseCallback):
    def __init__(self, fn: Callable[[int], None]) -> None:
        super().__init__()
        self.fn = fn

    def _on_step(self) -> bool:
        self.fn(self.num_timesteps)
        return True


def versions() -> dict[str, str]:
    """Versions of Python and the libraries that decide a run's numbers."""
    import gymnasium
    import numpy
    import sb3_contrib
    import stable_baselines3

    return {"python": platform.python_version(), "hlynr": hlynr.__version__,
            "torch": torch.__version__, "stable_baselines3": stable_baselines3.__version__,
            "sb3_contrib": sb3_contrib.__version__, "gymnasium": gymnasium.__version__,
            "numpy": numpy.__version__}


def diverged_parameters(model: Any) -> str | None:
    """The name of the first policy parameter that is not finite, or None."""
    for name, param in model.policy.named_parameters():
        if not torch.isfinite(param).all():
            return name
    return None


def new_run_dir(config: ExperimentConfig, runs_dir: Path | None = None) -> Path:
    """``<runs_dir>/<name>/<timestamp>/`` (a suffix keeps it unique)."""
    parent = Path(runs_dir or config.runs_dir) / config.name
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    candidate, k = parent / stamp, 1
    while candidate.exists():
        k += 1
        candidate = parent / f"{stamp}-{k}"
    return candidate


def _progress_every(model: Any) -> int:
    """Timesteps between progress records: every rollout (on-policy), else every 1000 steps."""
    if isinstance(model, OnPolicyAlgorithm):  # (off-policy SAC also has an n_steps: n-step returns)
        return int(model.n_steps * model.n_envs)
    return max(1000, model.n_envs)


class Run:
    """Builds and runs one training run (new or resumed)."""

    def __init__(self, config: ExperimentConfig, run_dir: Path, hooks: RunHooks | None = None) -> None:
        self.config, self.run_dir = config, run_dir
        self.hooks = hooks or RunHooks()
        self.stop = StopFlag()
        self._t0 = time.perf_counter()
        self._offset = 0.0
        self.control: ControlCallback | None = None
        self.extra_callbacks: list[BaseCallback] = []
        """Callbacks that come from other config sections (the pretraining regulariser)."""

    def wall_time(self) -> float:
        """Seconds of training so far, including time before a resume."""
        return self._offset + time.perf_counter() - self._t0

    def _make_eval_env(self, stage_params: dict[str, Any] | None, n_envs: int) -> VecEnv:
        return build_vec_env(self.config, training=False, n_envs=n_envs,
                             stage_params=stage_params)

    def _callbacks(self, ctx: RunContext, model: Any) -> tuple[list[BaseCallback], dict[str, Any]]:
        built: dict[str, Any] = {}
        for spec in self.config.callbacks:
            built[spec.name] = CALLBACKS.get(spec.name).build(spec.params, ctx)
        progress = ProgressCallback(ctx, _progress_every(model),
                                    on_record=self.hooks.on_rollout)
        ordered: list[BaseCallback] = [*self.extra_callbacks, progress]
        for obj in [progress, *self.extra_callbacks, *built.values()]:
            if isinstance(obj, Resumable):
                ctx.register_state(obj)
        evaluation = built.get("evaluation")
        for obj in built.values():
            if isinstance(obj, EvaluationListener) and isinstance(evaluation, EvaluationCallback):
                evaluation.listeners.append(obj)
            elif isinstance(obj, BaseCallback) and obj is not evaluation:
                ordered.append(obj)
        if isinstance(evaluation, EvaluationCallback):
            evaluation.listeners.extend(self.hooks.listeners)
            ordered.insert(1, evaluation)
        if isinstance(built.get("collapse_guard"), CollapseGuard):
            built["collapse_guard"].apply_lr_scale(model)
        if self.hooks.on_step is not None:
            ordered.append(_StepHook(self.hooks.on_step))
        self.control = ControlCallback(ctx)
        ordered.append(self.control)
        ordered.append(InterruptCallback(self.stop))
        return ordered, built

    def execute(self, model: Any, ctx: RunContext, reset_num_timesteps: bool) -> RunResult:
        """Train ``model`` to ``total_timesteps``, then save final model, checkpoint, summary."""
        callbacks, built = self._callbacks(ctx, model)
        remaining = self.config.total_timesteps - model.num_timesteps
        status, reason = RunStatus.COMPLETED, f"reached {self.config.total_timesteps} timesteps"
        stopped_in_pretraining = self.stop()  # a Ctrl+C during pretraining ends the run here
        try:
            with self.stop.installed(abandon=True):  # a second Ctrl+C: save what there is now
                if remaining > 0 and not stopped_in_pretraining:
                    try:
                        model.learn(remaining, callback=CallbackList(callbacks),
                                    reset_num_timesteps=reset_num_timesteps, log_interval=1)
                    except (ValueError, RuntimeError) as exc:
                        diverged = diverged_parameters(model)
                        if diverged is None:
                            raise  # not a divergence: a bug, shown as such
                        raise TrainingDiverged(f"non-finite parameters in {diverged} "
                                               f"({type(exc).__name__}: {exc})") from exc
        except MetricError as exc:
            raise RunError(f"{self.run_dir}: {exc}") from exc
        except TrainingDiverged as exc:
            status, reason = RunStatus.FAILED, f"diverged: {exc}"
        if status is not RunStatus.FAILED:
            if self.stop():
                status = RunStatus.INTERRUPTED
                reason = f"signal {signal.Signals(self.stop.signal).name}"  # type: ignore[arg-type]
                if stopped_in_pretraining:
                    reason += " during pretraining (its model so far is in pretrain/)"
            elif self.control is not None and self.control.stop_requested:
                status = RunStatus.STOPPED
                reason = "stop requested through the run folder's control channel"
            elif model.num_timesteps < self.config.total_timesteps:
                status, reason = RunStatus.STOPPED, self._stop_reason(built)
        evaluation = built.get("evaluation")
        history = evaluation.history if isinstance(evaluation, EvaluationCallback) else []
        checkpoint = None
        if status is not RunStatus.FAILED:
            checkpoint = ctx.save_checkpoint(model, status.value, self.wall_time())
            keep = self.config.callback("checkpoint")
            ctx.prune_checkpoints(keep.keep_last if keep is not None else 1)
            if status is not RunStatus.INTERRUPTED:
                save_model_dir(self.run_dir / "final", model,
                               {"timesteps": int(model.num_timesteps), "status": status.value})
        if self.control is not None:
            self.control.finish(checkpoint, int(model.num_timesteps), status.value)
        best_path = self.run_dir / "best"
        best = read_meta(best_path) if (best_path / "meta.json").is_file() else None
        ctx.log.write("event", timesteps=int(model.num_timesteps), event="end", status=status.value,
                      reason=reason, wall_time=self.wall_time())
        summary = {"status": status.value, "reason": reason, "timesteps": int(model.num_timesteps),
                   "total_timesteps": self.config.total_timesteps, "wall_time": self.wall_time(),
                   "best": best, "last_evaluation": history[-1].metrics if history else None}
        ctx.write_summary(summary)
        return RunResult(self.run_dir, status, reason, int(model.num_timesteps),
                         self.wall_time(), history, best)

    def _stop_reason(self, built: dict[str, Any]) -> str:
        stoppers = [*built.values(), *self.hooks.listeners]
        reasons = [obj.stop_reason for obj in stoppers if isinstance(obj, Stopper) and obj.stop_reason]
        return reasons[0] if reasons else "stopped by an evaluation listener"


def _context(run: Run, log: ProgressLog, meta: dict[str, Any] | None = None) -> RunContext:
    meta = meta or {}
    return RunContext(config=run.config, run_dir=run.run_dir, log=log,
                      make_eval_env=run._make_eval_env, wall_time=run.wall_time,
                      resume_state=meta.get("state", {}), resumed_at=int(meta.get("timesteps", 0)))


def _setup_torch(config: ExperimentConfig) -> None:
    torch.set_num_threads(config.torch_threads)


def start_run(
    config: ExperimentConfig, *, runs_dir: Path | None = None, run_dir: Path | None = None,
    hooks: RunHooks | None = None,
) -> RunResult:
    """Start a new run of ``config`` and train it to the end (or until stopped)."""
    if run_dir is not None and Path(run_dir).exists():
        pid = holder(Path(run_dir))
        raise RunError(str(RunLockedError(Path(run_dir), pid)) if pid is not None else
                       f"{run_dir} already exists; a new run needs a new folder (--resume continues one)")
    _setup_torch(config)
    clone = config.pretrain is not None and config.pretrain.teacher is not None
    venv = build_vec_env(config, observation_tap=clone)
    try:
        model = build_model(config, venv)
    except BaseException:
        venv.close()
        raise
    run_dir = run_dir or new_run_dir(config, runs_dir)
    try:
        run_dir.mkdir(parents=True, exist_ok=False)
        lock = RunLock(run_dir).acquire()
    except (FileExistsError, RunLockedError) as exc:
        venv.close()
        raise RunError(f"{run_dir}: another process started a run in this folder ({exc})") from None
    write_text_atomic(run_dir / "config.yaml", yaml.safe_dump(dump_config(config), sort_keys=False))
    write_json(run_dir / "versions.json", versions())
    model.set_logger(configure(str(run_dir / "tb"), ["tensorboard"]))
    run = Run(config, run_dir, hooks)
    log = ProgressLog(run_dir / "progress.jsonl")
    log.write("event", timesteps=0, event="start", name=config.name, seed=config.seed)
    try:
        if config.pretrain is not None:
            try:
                with run.stop.installed():
                    run_pretraining(model, venv, config, run_dir, log, should_stop=run.stop)
            except PretrainError as exc:
                raise RunError(f"{run_dir}: {exc}") from None
            untapped = remove_tap(venv)  # training and evaluation chains match again
            if untapped is not venv:  # the tap was outermost
                model.set_env(untapped)
        _add_model_callbacks(run, model)
        return run.execute(model, _context(run, log), reset_num_timesteps=True)
    finally:
        venv.close()
        lock.release()


def _add_model_callbacks(run: Run, model: Any) -> None:
    """Callbacks the config implies outside ``callbacks:``: the pretraining regulariser, the
    attention sharpness log; and the frozen normalisation statistics of ``pretrain``."""
    reg = regularizer_for(run.config, run.run_dir, model,
                          lambda path: load_model(run.config, path, device="cpu"))
    if reg is not None:
        run.extra_callbacks.append(reg)
    if run.config.pretrain is not None and run.config.pretrain.freeze_normalization:
        freeze_normalization(model.get_env())  # before learn() resets the env
    if has_attention(model):
        run.extra_callbacks.append(AttentionSharpness())


def resume_run(
    run_dir: Path, *, total_timesteps: int | None = None, hooks: RunHooks | None = None,
) -> RunResult:
    """Continue ``run_dir`` from its newest checkpoint with counters and state intact.

    ``total_timesteps`` extends (or shortens) the run; the run's ``config.yaml`` is updated so it
    keeps describing the run. Schedules follow the new total from the resumed timestep on.
    """
    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").is_file():
        raise RunError(f"{run_dir} is not a run folder (no config.yaml)")
    try:
        lock = RunLock(run_dir).acquire()
    except RunLockedError as exc:
        raise RunError(str(exc)) from None
    try:
        return _resume_locked(run_dir, total_timesteps, hooks)
    finally:
        lock.release()


def _resume_locked(run_dir: Path, total_timesteps: int | None, hooks: RunHooks | None) -> RunResult:
    overrides = [f"total_timesteps={total_timesteps}"] if total_timesteps is not None else []
    config = load_config(run_dir / "config.yaml", overrides)
    checkpoints = list_checkpoints(run_dir)
    if not checkpoints:
        raise RunError(f"{run_dir} has no complete checkpoint to resume from")
    _setup_torch(config)
    ckpt, meta, model, venv = newest_resumable(
        run_dir, checkpoints, config, hooks.on_notice if hooks is not None else None)
    try:
        model.set_logger(configure(str(run_dir / "tb"), ["tensorboard"]))
        if overrides:
            write_text_atomic(run_dir / "config.yaml",
                              yaml.safe_dump(dump_config(config), sort_keys=False))
        run = Run(config, run_dir, hooks)
        run._offset = float(meta.get("wall_time", 0.0))
        log = ProgressLog(run_dir / "progress.jsonl")
        log.truncate_after(int(meta["timesteps"]))
        log.write("event", timesteps=int(meta["timesteps"]), event="resume", checkpoint=ckpt.name)
        _add_model_callbacks(run, model)
        return run.execute(model, _context(run, log, meta),
                           reset_num_timesteps=False)
    finally:
        venv.close()

