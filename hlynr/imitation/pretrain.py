"""The pretraining phase of a run: collect, clone (BC or DAgger), save, warm up the critic.

Artifacts in the run folder:

* ``pretrain/``: the cloned policy as a normal saved model (``model.zip``, the normalisation
  statistics collected during the teacher's rollouts, ``meta.json``) plus ``dataset.npz``;
  ``evaluate.py RUN --which pretrain`` scores it;
* ``progress.jsonl``: one ``pretrain`` record per epoch (imitation loss on the training and
  validation sets, action agreement, data set size) and one per critic warm-up rollout;
  the same values go to TensorBoard under ``pretrain/``.

A run resumed during fine-tuning never pretrains again: the phase runs only in a new run.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecEnv

from hlynr.config.schema import ExperimentConfig
from hlynr.envs.stages import spread_stages
from hlynr.imitation.actor import ActorView
from hlynr.imitation.clone import EpochStats, fit
from hlynr.imitation.collect import collect_round, prepare
from hlynr.imitation.dataset import Dataset
from hlynr.imitation.feed import TeacherFeed, teacher_feed
from hlynr.imitation.regularizer import FineTuneRegularizer
from hlynr.imitation.warmup import WarmupRound, warm_up_critic
from hlynr.registries import BASELINES, EventLog, Policy
from hlynr.runs.artifacts import MODEL_FILE, restore_vecnormalize, save_model_dir

PRETRAIN_DIR = "pretrain"
DATASET_FILE = "dataset.npz"


class PretrainError(Exception):
    """Pretraining cannot run with this env (``str()`` is the user-facing message)."""


@dataclass
class PretrainOutcome:
    """What the phase produced."""

    dataset: Dataset | None
    agreement: float | None
    warmup: list[WarmupRound]


def _feed(config: ExperimentConfig, venv: VecEnv) -> TeacherFeed:
    """What the config's teacher acts on in ``venv`` (``teacher.observes``)."""
    assert config.pretrain is not None and config.pretrain.teacher is not None
    try:
        return teacher_feed(venv, config.pretrain.teacher.observes)
    except ValueError as exc:
        raise PretrainError(f"the teacher cannot observe this env: {exc}") from None


def _teacher(config: ExperimentConfig, venv: VecEnv, feed: TeacherFeed | None = None) -> Policy:
    assert config.pretrain is not None and config.pretrain.teacher is not None
    spec = config.pretrain.teacher
    feed = feed or _feed(config, venv)
    try:
        return BASELINES.get(spec.name).policy(feed.observation_space, feed.action_space, spec.params)
    except ValueError as exc:
        raise PretrainError(f"teacher '{spec.name}' cannot drive this env: {exc}") from None


def clone_teacher(model: BaseAlgorithm, venv: VecEnv, config: ExperimentConfig, log: EventLog,
                  should_stop: Callable[[], bool] = lambda: False) -> tuple[Dataset, float]:
    """Collect the teacher's data (DAgger: round by round) and clone it into ``model``; once
    ``should_stop()`` is true, the round in progress is cut short and fitted, and no other starts."""
    cfg = config.pretrain
    assert cfg is not None
    feed = _feed(config, venv)
    teacher = _teacher(config, venv, feed)
    view = ActorView(model)
    rng = np.random.default_rng(config.seed)
    per_round = max(1, math.ceil(cfg.steps / cfg.rounds / venv.num_envs))
    dataset = Dataset()
    epoch_base = 0
    agreement = 0.0
    for k in range(cfg.rounds):
        p = cfg.student_prob_at(k)
        if cfg.stages is not None:
            spread_stages(venv, cfg.stages)  # collect_round resets: every share at its stage
        t0 = time.perf_counter()
        dataset.rounds.append(collect_round(venv, teacher, model, per_round, p, rng, should_stop,
                                            feed))
        collect_s = time.perf_counter() - t0
        t1 = time.perf_counter()

        def on_epoch(s: EpochStats, k: int = k, p: float = p, base: int = epoch_base) -> None:
            fields = {"round": k, "epoch": s.epoch, "student_prob": p,
                      "dataset_size": dataset.size, "imitation_loss_train": s.train_loss,
                      "imitation_loss_validation": s.validation_loss, "agreement": s.agreement}
            log.write("pretrain", timesteps=0, **fields)
            for key, value in fields.items():
                if value is not None and key not in ("round", "epoch"):
                    model.logger.record(f"pretrain/{key}", value)
            model.logger.dump(step=base + s.epoch)

        result = fit(view, dataset, lambda o: prepare(venv, o), cfg, rng, on_epoch, should_stop)
        epoch_base += len(result.epochs)
        agreement = result.last.agreement
        log.write("event", timesteps=0, event="pretrain_round", round=k, student_prob=p,
                  dataset_size=dataset.size, collect_steps_per_s=per_round * venv.num_envs / collect_s,
                  fit_seconds=time.perf_counter() - t1, epochs=len(result.epochs),
                  stopped_early=result.stopped_early, agreement=agreement)
        if should_stop():
            break
    return dataset, agreement


def load_pretrained(model: BaseAlgorithm, run_dir: Path) -> None:
    """Start ``model`` from another run's ``pretrain/`` model and normalisation statistics."""
    folder = Path(run_dir) / PRETRAIN_DIR
    venv = model.get_env()
    assert venv is not None  # a run's model has its training env
    try:
        model.set_parameters(str(folder / MODEL_FILE), exact_match=True, device=model.device)
        restore_vecnormalize(folder, venv, training=True)
    except (ValueError, RuntimeError, KeyError, OSError) as exc:
        raise PretrainError(f"cannot start from {folder}: {type(exc).__name__}: {exc}") from None


def run_pretraining(model: BaseAlgorithm, venv: VecEnv, config: ExperimentConfig, run_dir: Path, log: EventLog,
                    should_stop: Callable[[], bool] = lambda: False) -> PretrainOutcome:
    """The whole phase for a new run (before ``model.learn``).

    Once ``should_stop()`` is true (a Ctrl+C), cloning ends early and its model is still saved
    (``meta.json`` status ``interrupted``); the critic warm-up is skipped.
    """
    cfg = config.pretrain
    assert cfg is not None
    dataset, agreement = None, None
    if cfg.from_run is not None:
        load_pretrained(model, Path(cfg.from_run))
        log.write("event", timesteps=0, event="pretrained_from", run=cfg.from_run)
    else:
        dataset, agreement = clone_teacher(model, venv, config, log, should_stop)
        status = "interrupted" if should_stop() else "pretrained"
        folder = save_model_dir(run_dir / PRETRAIN_DIR, model,
                                {"timesteps": 0, "status": status, "method": cfg.method,
                                 "teacher": cfg.teacher.model_dump() if cfg.teacher else None,
                                 "agreement": agreement,
                                 "dataset_size": dataset.size})
        dataset.save(folder / DATASET_FILE)
    warm: list[WarmupRound] = []
    if cfg.critic_warmup is not None and not should_stop():
        w = cfg.critic_warmup

        def on_round(r: WarmupRound) -> None:
            log.write("pretrain", timesteps=0, warmup_rollout=r.rollout,
                      value_loss_before=r.value_loss_before, value_loss_after=r.value_loss_after)

        warm = warm_up_critic(model, w.rollouts, w.epochs, w.learning_rate, on_round)
    return PretrainOutcome(dataset, agreement, warm)


def regularizer_for(config: ExperimentConfig, run_dir: Path, model: BaseAlgorithm,
                    load_snapshot: Callable[[Path], BaseAlgorithm]) -> FineTuneRegularizer | None:
    """The fine-tuning regulariser of ``config`` (None without one).

    ``load_snapshot(path) -> model`` loads the cloned model (the regulariser freezes it); the
    snapshot and the data set come from this run's ``pretrain/`` folder (or ``from_run``'s), so
    a resumed run gets the same ones.
    """
    cfg = config.pretrain
    if cfg is None or cfg.regularizer is None:
        return None
    source = Path(cfg.from_run) if cfg.from_run is not None else Path(run_dir)
    folder = source / PRETRAIN_DIR
    snapshot = dataset = None
    if cfg.regularizer.loss == "bc":
        dataset = Dataset.load(folder / DATASET_FILE)
    else:
        snapshot = load_snapshot(folder / MODEL_FILE)
    venv = model.get_env()
    return FineTuneRegularizer(cfg.regularizer, config.total_timesteps, snapshot, dataset,
                               lambda o: prepare(venv, o), seed=config.seed)
