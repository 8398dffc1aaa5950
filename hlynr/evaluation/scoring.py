"""Score saved models and scripted baselines on the same seeded episodes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from stable_baselines3.common.vec_env import VecEnv

from hlynr.algos.builder import load_model
from hlynr.config import ExperimentConfig
from hlynr.config.stages import StageSelector
from hlynr.envs.factory import build_vec_env
from hlynr.evaluation.attention import AttentionRecorder
from hlynr.evaluation.episodes import EvaluationSummary, StepRecorder, run_episodes
from hlynr.evaluation.targets import ModelTarget
from hlynr.registries import BASELINES
from hlynr.runs.artifacts import restore_vecnormalize


class LoadError(Exception):
    """A saved model or its statistics could not be loaded."""


Record = Callable[[VecEnv, Any], StepRecorder]
"""``record(venv, model)``: the per-step recorder of one scored row (``model`` is ``None`` for a
baseline), e.g. ``lambda venv, model: TrajectoryRecorder(venv, env_id, model)``."""


def _eval_env(config: ExperimentConfig, settings: ScoreSettings, recording: bool,
              **kwargs: Any) -> VecEnv:
    return eval_vec_env(config, settings.n_envs, config.stage(cast(Any, settings.stage))[1],
                        recording, **kwargs)


def eval_vec_env(config: ExperimentConfig, n_envs: int, stage_params: dict[str, Any] | None,
                 recording: bool, **kwargs: Any) -> VecEnv:
    """An evaluation VecEnv of ``n_envs`` copies at ``stage_params`` (normalisation statistics
    frozen); when recording, every env copy is stepped in this process (the recorder reads their
    states; the trajectories are the same with any number of workers) and the task's observation
    is tapped before the learner's wrappers where the chain allows it."""
    if recording and getattr(config.env, "workers", 1) > 1:
        config = config.model_copy(update={"env": config.env.model_copy(update={"workers": 1})})
    common: dict[str, Any] = dict(training=False, n_envs=n_envs, stage_params=stage_params, **kwargs)
    if recording:
        try:
            return build_vec_env(config, observation_tap=True, **common)
        except ValueError as exc:
            if "task wrapper comes after a learner wrapper" not in str(exc):
                raise
    return build_vec_env(config, **common)


@dataclass
class ScoreSettings:
    """How evaluation episodes are run."""

    episodes: int = 100
    seed: int = 0
    deterministic: bool = True
    n_envs: int = 8
    stage: StageSelector = "final"  # curriculum stage: final, none (env kwargs as given) or index


def score_model(target: ModelTarget, settings: ScoreSettings,
                attention_path: Path | None = None, record: Record | None = None) -> EvaluationSummary:
    """Evaluate one saved model with its normalisation statistics and recurrent state handling.

    ``attention_path``: write the actor's attention weights at every step there; ``record``:
    make the recorder that keeps every step (see :data:`Record`).
    """
    config = target.config
    venv = _eval_env(config, settings, record is not None)
    try:
        try:
            model = load_model(config, target.model_path, venv, device="cpu")
            restore_vecnormalize(target.folder, venv, training=False)
        except Exception as exc:  # damaged zip / pickle / mismatched spaces
            raise LoadError(f"cannot load {target.model_path}: {type(exc).__name__}: {exc}") from None
        policy: Any = model
        if attention_path is not None:
            try:
                policy = AttentionRecorder(model, attention_path)
            except ValueError as exc:
                raise LoadError(str(exc)) from None
        try:
            return run_episodes(policy, venv, settings.episodes, settings.seed,
                                deterministic=settings.deterministic,
                                success_key=config.env.success_key,
                                recorder=record(venv, model) if record is not None else None)
        finally:
            if isinstance(policy, AttentionRecorder):
                policy.close()
    finally:
        venv.close()


def score_baseline(name: str, config: ExperimentConfig, settings: ScoreSettings,
                   params: dict[str, Any] | None = None, record: Record | None = None) -> EvaluationSummary:
    """Evaluate a scripted baseline through the task's own wrappers (sensor model included);
    ``record``: make the recorder that keeps every step (see :data:`Record`)."""
    entry = BASELINES.get(name)
    if config.env.id not in entry.env_ids:
        raise ValueError(f"baseline '{name}' drives {', '.join(entry.env_ids)}, "
                         f"not {config.env.id}")
    venv = _eval_env(config, settings, record is not None,
                     env_overrides=entry.env_overrides, learner_wrappers=False)
    try:
        policy = entry.policy(venv.observation_space, venv.action_space, params)
        return run_episodes(policy, venv, settings.episodes, settings.seed,
                            deterministic=True, success_key=config.env.success_key,
                            recorder=record(venv, None) if record is not None else None)
    finally:
        venv.close()
