"""Choosing the checkpoint a run resumes from: the newest one that verifies and loads."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.vec_env import VecEnv

from hlynr.algos.builder import load_model
from hlynr.callbacks.progress import ProgressCallback
from hlynr.config import ExperimentConfig
from hlynr.envs.factory import build_vec_env
from hlynr.imitation.regularizer import FineTuneRegularizer
from hlynr.registries import CALLBACKS, Resumable
from hlynr.runs.artifacts import MODEL_FILE, REPLAY_FILE, restore_vecnormalize
from hlynr.runs.checkpoints import DamagedCheckpoint, verify_checkpoint
from hlynr.training.errors import RunError


def _state_keys(config: ExperimentConfig) -> set[str]:
    """The components whose state every checkpoint of ``config``'s runs must hold."""
    keys = {ProgressCallback.state_key}
    if config.pretrain is not None and config.pretrain.regularizer is not None:
        keys.add(FineTuneRegularizer.state_key)
    for spec in config.callbacks:
        build = CALLBACKS.get(spec.name).build
        if isinstance(build, type) and issubclass(build, Resumable):
            keys.add(build.state_key)
    return keys


def newest_resumable(
    run_dir: Path, checkpoints: list[Path], config: ExperimentConfig,
    notice: Callable[[str], None] | None = None,
) -> tuple[Path, dict[str, Any], Any, VecEnv]:
    """The newest checkpoint that verifies and loads, with its model on a fresh env.

    Damaged checkpoints (unreadable files, incomplete meta, missing callback state) are passed
    over, newest first; falling back is reported in one line through ``notice``.
    """
    problems: list[str] = []
    for ckpt in reversed(checkpoints):
        try:
            meta = verify_checkpoint(ckpt, _state_keys(config))
        except DamagedCheckpoint as exc:
            problems.append(f"{ckpt.name} is damaged ({exc})")
            continue
        if meta["timesteps"] >= config.total_timesteps:
            raise RunError(f"{run_dir} already reached {config.total_timesteps} timesteps; "
                           "train further with --resume RUN --set total_timesteps=N")
        venv = build_vec_env(config, seed=config.seed + int(meta["timesteps"]))
        try:
            model = load_model(config, ckpt / MODEL_FILE, venv)
            env = model.get_env()
            if env is not None:
                restore_vecnormalize(ckpt, env, training=True)
            if (ckpt / REPLAY_FILE).is_file() and isinstance(model, OffPolicyAlgorithm):
                model.load_replay_buffer(ckpt / REPLAY_FILE)
        except Exception as exc:  # a damaged zip/pickle that passed the checks
            venv.close()
            problems.append(f"{ckpt.name} could not be loaded ({type(exc).__name__}: {exc})")
            continue
        if problems and notice is not None:
            notice(f"{'; '.join(problems)}: resuming from {ckpt.name}")
        return ckpt, meta, model, venv
    raise RunError(f"{run_dir}: no checkpoint can be resumed from: {'; '.join(problems)}")
