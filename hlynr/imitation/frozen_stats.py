"""Fine-tuning on the normalisation statistics the clone was trained with.

A ``normalize`` wrapper keeps updating its running mean and variance while RL fine-tunes. When
the fine-tuning visits other states than the teacher's rollouts did (another curriculum stage,
a noisier policy), the statistics move, the same raw observation reaches the network as another
input, and the cloned policy degrades although its distribution on normalised inputs barely
changes (the KL regulariser compares policy and snapshot on the same normalised inputs, so it
cannot see this). :func:`freeze_normalization` stops the updates before fine-tuning starts.
"""

from __future__ import annotations

from stable_baselines3.common.vec_env import VecEnv, unwrap_vec_normalize


def freeze_normalization(venv: VecEnv | None) -> None:
    """Stop the ``VecNormalize`` of ``venv`` (if any) from updating its statistics (observations
    and rewards); called before fine-tuning starts, so not even its first reset moves them."""
    norm = unwrap_vec_normalize(venv) if venv is not None else None
    if norm is not None:
        norm.training = False
