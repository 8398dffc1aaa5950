"""One training run: a session (a new run, or one resume of it) from config to ``summary.json``.

A session, in parts:

1. before anything is written: the env and the model are built (a new run) or the newest
   loadable checkpoint is found (a resume); bad input here raises :class:`RunError` (or a
   config / build error) and leaves nothing behind;
2. the run folder (:class:`hlynr.runs.folder.RunFolder`) is created or opened and locked;
   everything from here on runs inside its :meth:`~hlynr.runs.folder.RunFolder.held` block,
   which releases the lock (and the envs are closed) whatever happens;
3. pretraining (a new run with ``pretrain:``), then the run's callbacks are built and put
   together by protocol (:mod:`hlynr.training.assembly`), sharing a
   :class:`~hlynr.training.context.TrainingContext`, and the model trains;
4. one pure function decides the ending from what happened (:mod:`hlynr.training.ending`):
   status, reason, exit code and what to save; the runner saves it, answers the control
   channel's stop requests and writes the ``end`` event and ``summary.json``. A ``summary.json``
   is written whatever ends the session, a crash included.

A run lives in ``<runs_dir>/<name>/<timestamp>/``:

* ``config.yaml``: the fully resolved config (``train.py --config`` on it reproduces the run);
* ``versions.json``: library versions the run used;
* ``progress.jsonl``: one JSON object per rollout, per evaluation and per event;
* ``tb/``: TensorBoard logs;
* ``checkpoints/step_<N>/``: resumable checkpoints; ``best/`` and ``final/``: saved models;
* ``summary.json``: status, reason, timesteps, wall time, best evaluation;
* ``trackers.json``: the ids of the run's tracker runs (``tracking:``, :mod:`hlynr.trackers`);
* ``run.lock``: held by the training process (:mod:`hlynr.runs.lock`);
* ``control/``: save / stop requests and their answers (:mod:`hlynr.runs.control`).

Ctrl+C or SIGTERM stops training at the next step and saves a checkpoint before returning.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback, CallbackList
from stable_baselines3.common.logger import configure
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm
from stable_baselines3.common.vec_env import VecEnv

import hlynr
from hlynr.algos.builder import build_model, load_model
from hlynr.callbacks.attention import AttentionSharpness, has_attention
from hlynr.callbacks.progress import ProgressCallback
from hlynr.config import ExperimentConfig, dump_config
from hlynr.envs.factory import build_vec_env, remove_tap
from hlynr.imitation.frozen_stats import freeze_normalization
from hlynr.imitation.pretrain import regularizer_for, run_pretraining
from hlynr.registries import CALLBACKS, EvalResult, RunStatus
from hlynr.runs.artifacts import save_model_dir
from hlynr.runs.checkpoints import list_checkpoints
from hlynr.runs.folder import RunFolder, new_run_path
from hlynr.runs.lock import RunLockedError, holder
from hlynr.trackers import attach as attach_trackers
from hlynr.training.assembly import Assembly, RunHooks, assemble
from hlynr.training.context import TrainingContext
from hlynr.training.ending import Ending, Outcome, decide_ending
from hlynr.training.errors import RunCrashed, RunError
from hlynr.training.resume import newest_resumable
from hlynr.training.signals import StopFlag
from hlynr.zoo import load_config


@dataclass
class RunResult:
    """How a run session ended."""

    run_dir: Path
    status: RunStatus
    reason: str
    timesteps: int
    wall_time: float
    evaluations: list[EvalResult]
    best: dict[str, Any] | None
    exit_code: int = 0
    """The exit code of ``train.py`` for this ending (docs/runs.md)."""
    error: Exception | None = None
    """The error that ended the run as ``failed`` (a missing metric, a pretraining error, a
    divergence), None otherwise."""


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


def diverged_parameters(model: BaseAlgorithm) -> str | None:
    """The name of the first policy parameter that is not finite, or None."""
    for name, param in model.policy.named_parameters():
        if not torch.isfinite(param).all():
            return name
    return None


def new_run_dir(config: ExperimentConfig, runs_dir: Path | None = None) -> Path:
    """``<runs_dir>/<name>/<timestamp>/`` (a suffix keeps it unique)."""
    return new_run_path(Path(runs_dir or config.runs_dir) / config.name)


def _progress_every(model: BaseAlgorithm) -> int:
    """Timesteps between progress records: every rollout (on-policy), else every 1000 steps."""
    if isinstance(model, OnPolicyAlgorithm):  # (off-policy SAC also has an n_steps: n-step returns)
        return int(model.n_steps * model.n_envs)
    return max(1000, model.n_envs)


class _Clock:
    """Training wall-clock seconds: this session's plus ``offset`` (the time before a resume)."""

    def __init__(self, offset: float = 0.0) -> None:
        self.offset = offset
        self.t0 = time.perf_counter()

    def __call__(self) -> float:
        return self.offset + time.perf_counter() - self.t0


class Run:
    """One session of a run in its locked folder: (pretraining,) training, and its ending."""

    def __init__(self, config: ExperimentConfig, folder: RunFolder, model: BaseAlgorithm, venv: VecEnv,
                 hooks: RunHooks | None = None, resumed: dict[str, Any] | None = None) -> None:
        """``resumed``: the ``meta.json`` of the checkpoint this session resumes from."""
        self.config, self.folder, self.model, self.venv = config, folder, model, venv
        self.hooks = hooks or RunHooks()
        self.stop = StopFlag()
        meta = resumed or {}
        self.clock = _Clock(float(meta.get("wall_time", 0.0)))
        self.ctx = TrainingContext(config=config, run_dir=folder.path, log=folder.log, clock=self.clock,
                                   resume_state=dict(meta.get("state", {})),
                                   resumed_at=int(meta.get("timesteps", 0)))
        self.trackers = attach_trackers(config, folder.log, folder.path, self.hooks.on_notice)
        """The run's trackers (``tracking:``), fed by its progress records; None without any."""

    @property
    def run_dir(self) -> Path:
        return self.folder.path

    def _position(self) -> tuple[int, float]:
        return int(self.model.num_timesteps), self.clock()

    def start(self) -> RunResult:
        """A new run: config.yaml, versions.json, the start event, pretraining, training."""
        def begin() -> None:
            self.folder.write_config(dump_config(self.config))
            self.folder.write_versions(versions())
            self.model.set_logger(configure(str(self.run_dir / "tb"), ["tensorboard"]))
            self.folder.begin("start", 0, self.config.total_timesteps, name=self.config.name,
                              seed=self.config.seed)

        with self.folder.held(self._position), closing(self.venv):
            return self._session(begin, pretrain=self.config.pretrain is not None,
                                 reset_num_timesteps=True)

    def resume(self, checkpoint: str, config_changed: bool) -> RunResult:
        """Continue from ``checkpoint``: the log is cut back to it, then the resume event."""
        def begin() -> None:
            self.model.set_logger(configure(str(self.run_dir / "tb"), ["tensorboard"]))
            if config_changed:
                self.folder.write_config(dump_config(self.config))
            self.folder.log.truncate_after(self.ctx.resumed_at)
            self.folder.begin("resume", self.ctx.resumed_at, self.config.total_timesteps,
                              checkpoint=checkpoint)

        with self.folder.held(self._position), closing(self.venv):
            return self._session(begin, pretrain=False, reset_num_timesteps=False)

    def _session(self, begin: Callable[[], None], pretrain: bool, reset_num_timesteps: bool) -> RunResult:
        """``begin()``, (pretraining,) training; then the ending, whatever ended it."""
        error: Exception | KeyboardInterrupt | None = None
        diverged = None
        assembly: Assembly | None = None
        stopped_before_training = False
        try:
            begin()
            if pretrain:
                self._pretrain()
            stopped_before_training = self.stop()  # a Ctrl+C during pretraining ends the run here
            progress = ProgressCallback(self.ctx, _progress_every(self.model),
                                        on_record=self.hooks.on_rollout)
            components = [progress, *self._implied_callbacks(), *self._configured_callbacks()]
            assembly = assemble(self.ctx, self.model, components, self.hooks, self.stop)
            remaining = self.config.total_timesteps - self.model.num_timesteps
            if remaining > 0 and not stopped_before_training:
                diverged = self._learn(assembly.callbacks, remaining, reset_num_timesteps)
        except (Exception, KeyboardInterrupt) as exc:
            error = exc
        ending = decide_ending(Outcome(
            timesteps=int(self.model.num_timesteps), total_timesteps=self.config.total_timesteps,
            signal=self.stop.signal, stopped_before_training=stopped_before_training,
            control_stop=assembly is not None and assembly.control.stop_requested,
            diverged=diverged, stop_reasons=assembly.stop_reasons() if assembly else (),
            error=error))
        return self._finish(ending, assembly, error)

    def _pretrain(self) -> None:
        with self.stop.installed():
            run_pretraining(self.model, self.venv, self.config, self.run_dir, self.folder.log,
                            should_stop=self.stop)
        untapped = remove_tap(self.venv)  # training and evaluation chains match again
        if untapped is not self.venv:  # the tap was outermost
            self.model.set_env(untapped)

    def _implied_callbacks(self) -> list[BaseCallback]:
        """Callbacks the config implies outside ``callbacks:``: the pretraining regulariser, the
        attention sharpness log; and the frozen normalisation statistics of ``pretrain``."""
        found: list[BaseCallback] = []
        reg = regularizer_for(self.config, self.run_dir, self.model,
                              lambda path: load_model(self.config, path, device="cpu"))
        if reg is not None:
            found.append(reg)
        if self.config.pretrain is not None and self.config.pretrain.freeze_normalization:
            freeze_normalization(self.model.get_env())  # before learn() resets the env
        if has_attention(self.model):
            found.append(AttentionSharpness())
        return found

    def _configured_callbacks(self) -> list[object]:
        """The config's ``callbacks:``, built in order."""
        return [CALLBACKS.get(spec.name).build(spec.params, self.ctx) for spec in self.config.callbacks]

    def _learn(self, callbacks: list[BaseCallback], remaining: int, reset_num_timesteps: bool) -> str | None:
        """Train for ``remaining`` timesteps; what became non-finite if the update diverged."""
        with self.stop.installed(abandon=True):  # a second Ctrl+C: save what there is now
            try:
                self.model.learn(remaining, callback=CallbackList(callbacks),
                                 reset_num_timesteps=reset_num_timesteps, log_interval=1)
            except (ValueError, RuntimeError) as exc:
                diverged = diverged_parameters(self.model)
                if diverged is None:
                    raise  # not a divergence: a bug, shown as such
                return f"non-finite parameters in {diverged} ({type(exc).__name__}: {exc})"
        return None

    def _finish(self, ending: Ending, assembly: Assembly | None,
                error: Exception | KeyboardInterrupt | None) -> RunResult:
        """Save what ``ending`` keeps, answer stop requests, write the end event and summary."""
        timesteps = int(self.model.num_timesteps)
        checkpoint = None
        if ending.checkpoint:
            checkpoint = self.ctx.save_checkpoint(self.model, ending.status.value, self.clock())
            keep = self.config.callback("checkpoint")
            self.ctx.prune_checkpoints(keep.keep_last if keep is not None else 1)
        if ending.final_model:
            save_model_dir(self.run_dir / "final", self.model,
                           {"timesteps": timesteps, "status": ending.status.value})
        if assembly is not None:
            assembly.control.finish(checkpoint, timesteps, ending.status.value)
        history = assembly.history if assembly is not None else []
        summary = self.folder.end(ending.status, ending.reason, timesteps, self.clock(),
                                  history[-1].metrics if history else None)
        if ending.reraise and error is not None:
            if isinstance(error, KeyboardInterrupt):
                raise error
            raise RunCrashed(f"{self.run_dir}: run failed ({ending.reason})") from error
        return RunResult(self.run_dir, ending.status, ending.reason, timesteps, self.clock(),
                         history, summary["best"], ending.exit_code,
                         error if isinstance(error, Exception) else None)


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
        path = Path(run_dir) if run_dir is not None else new_run_dir(config, runs_dir)
        try:
            folder = RunFolder.create(path)
        except (FileExistsError, RunLockedError) as exc:
            raise RunError(f"{path}: another process started a run in this folder ({exc})") from None
    except BaseException:
        venv.close()
        raise
    return Run(config, folder, model, venv, hooks).start()


def resume_run(
    run_dir: Path, *, total_timesteps: int | None = None, hooks: RunHooks | None = None,
) -> RunResult:
    """Continue ``run_dir`` from its newest checkpoint with counters and state intact.

    ``total_timesteps`` extends (or shortens) the run; the run's ``config.yaml`` is updated so it
    keeps describing the run. Schedules follow the new total from the resumed timestep on.
    """
    run_dir = Path(run_dir)
    try:
        folder = RunFolder.open(run_dir)
    except FileNotFoundError:
        raise RunError(f"{run_dir} is not a run folder (no config.yaml)") from None
    except RunLockedError as exc:
        raise RunError(str(exc)) from None
    try:
        overrides = [f"total_timesteps={total_timesteps}"] if total_timesteps is not None else []
        config = load_config(run_dir / "config.yaml", overrides).config
        checkpoints = list_checkpoints(run_dir)
        if not checkpoints:
            raise RunError(f"{run_dir} has no complete checkpoint to resume from")
        _setup_torch(config)
        ckpt, meta, model, venv = newest_resumable(
            run_dir, checkpoints, config, hooks.on_notice if hooks is not None else None)
    except BaseException:
        folder.release()  # nothing was written: the folder is as it was
        raise
    return Run(config, folder, model, venv, hooks, resumed=meta).resume(ckpt.name, bool(overrides))
