"""Saving and loading models with their normalisation statistics, atomically.

A saved model is a folder holding ``model.zip``, ``vecnormalize.pkl`` (when the env is
normalised) and ``meta.json``. Folders are written under a temporary name and renamed when
complete, so an interrupted save never leaves a half-written model behind.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported where used: reading a run folder's files loads no learning library
    from stable_baselines3.common.base_class import BaseAlgorithm
    from stable_baselines3.common.vec_env import VecEnv, VecNormalize

from hlynr.runs.files import write_json

MODEL_FILE = "model.zip"
VECNORM_FILE = "vecnormalize.pkl"
META_FILE = "meta.json"
REPLAY_FILE = "replay_buffer.pkl"


def save_model_dir(
    folder: Path,
    model: BaseAlgorithm,
    meta: dict[str, Any],
    *,
    replay_buffer: bool = False,
) -> Path:
    """Save ``model`` (+ VecNormalize stats, + optionally its replay buffer) into ``folder``."""
    from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
    from stable_baselines3.common.vec_env import unwrap_vec_normalize

    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.tmp"))
    old = folder.with_name(f".{folder.name}.old")
    try:
        model.save(tmp / MODEL_FILE)
        env = model.get_env()
        vecnorm = unwrap_vec_normalize(env) if env is not None else None
        if vecnorm is not None:
            vecnorm.save(str(tmp / VECNORM_FILE))
        if replay_buffer and isinstance(model, OffPolicyAlgorithm) and model.replay_buffer is not None:
            model.save_replay_buffer(tmp / REPLAY_FILE)
        write_json(tmp / META_FILE, meta)
        if folder.exists():
            if old.exists():
                shutil.rmtree(old)
            os.replace(folder, old)
            os.replace(tmp, folder)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, folder)
    except BaseException:  # e.g. a second Ctrl+C between the two renames: the old model stays
        if old.exists() and not folder.exists():
            os.replace(old, folder)
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def is_complete(folder: Path) -> bool:
    """Whether ``folder`` holds a completely written model (meta.json is written last)."""
    return (folder / MODEL_FILE).is_file() and (folder / META_FILE).is_file()


def read_meta(folder: Path) -> dict[str, Any]:
    """The ``meta.json`` of a saved model folder."""
    return json.loads((folder / META_FILE).read_text())


def restore_vecnormalize(folder: Path, venv: VecEnv, *, training: bool) -> None:
    """Copy the normalisation statistics saved in ``folder`` into ``venv``'s VecNormalize.

    Evaluation uses ``training=False``: statistics frozen, rewards reported raw. Raises
    ``ValueError`` when the saved model and the env chain disagree about normalisation.
    """
    from stable_baselines3.common.vec_env import unwrap_vec_normalize

    path = folder / VECNORM_FILE
    target = unwrap_vec_normalize(venv)
    if target is None:
        if path.is_file():
            raise ValueError(f"{folder} has normalisation statistics but the env has no "
                             "'normalize' wrapper")
        return
    if not path.is_file():
        raise ValueError(f"the env is normalised but {folder} has no {VECNORM_FILE}")
    with path.open("rb") as fh:
        saved: VecNormalize = pickle.load(fh)
    target.obs_rms = saved.obs_rms
    target.ret_rms = saved.ret_rms
    target.training = training
    if not training:
        target.norm_reward = False
