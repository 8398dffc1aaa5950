"""What PPO-family updates share around their loops: the clip ranges and SB3's logged values.

hlynr's PPO and RecurrentPPO log exactly what SB3's and sb3-contrib's ``train()`` log, from
statistics they keep as tensors during the update.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch as th
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm
from stable_baselines3.common.utils import explained_variance


def clip_ranges(model: Any) -> tuple[float, float | None]:
    """The current ``clip_range`` and ``clip_range_vf`` (None when off) of a PPO model."""
    progress = model._current_progress_remaining
    clip_range_vf = None if model.clip_range_vf is None else model.clip_range_vf(progress)
    return model.clip_range(progress), clip_range_vf


def record_update(model: OnPolicyAlgorithm, losses: th.Tensor, approx_kl_divs: list[np.float32], loss: th.Tensor,
                  clip_range: float, clip_range_vf: float | None) -> None:
    """SB3's logged values after a PPO update.

    :param losses: one row per minibatch: policy loss, clip fraction, value loss, entropy loss
        (means over every minibatch are logged, of the Python floats, as SB3 takes them).
    :param approx_kl_divs: the approx KL of the last epoch's minibatches (float32, as SB3 keeps them).
    :param loss: the last minibatch's loss.
    """
    pg_losses, clip_fractions, value_losses, entropy_losses = losses.T.tolist()
    buffer = model.rollout_buffer
    explained_var = explained_variance(buffer.values.flatten(), buffer.returns.flatten())
    model.logger.record("train/entropy_loss", np.mean(entropy_losses))
    model.logger.record("train/policy_gradient_loss", np.mean(pg_losses))
    model.logger.record("train/value_loss", np.mean(value_losses))
    model.logger.record("train/approx_kl", np.mean(approx_kl_divs))
    model.logger.record("train/clip_fraction", np.mean(clip_fractions))
    model.logger.record("train/loss", loss.item())
    model.logger.record("train/explained_variance", explained_var)
    if hasattr(model.policy, "log_std"):
        model.logger.record("train/std", th.exp(model.policy.log_std).mean().item())
    model.logger.record("train/n_updates", model._n_updates, exclude="tensorboard")
    model.logger.record("train/clip_range", clip_range)
    if clip_range_vf is not None:
        model.logger.record("train/clip_range_vf", clip_range_vf)
