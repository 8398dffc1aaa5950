"""Configs of the tiny runs the replay tests train (see conftest.py)."""

from __future__ import annotations

from typing import Any

import hlynr  # noqa: F401  (registers the built-in envs and baselines)

INTERCEPT_KWARGS = {"max_time": 2.0}
"""Engagements cut at 2 s (40 steps): short episodes, short videos."""
ATC_KWARGS = {"scenario": "random", "max_aircraft": 4, "n_aircraft": 4, "k_intruders": 3, "max_steps": 12}


def intercept_config() -> dict[str, Any]:
    """PPO on batched intercept, with observation normalisation (a learner wrapper)."""
    return {"name": "replay_intercept", "seed": 0, "total_timesteps": 128,
            "env": {"id": "hlynr/Intercept-v0", "vectoriser": "batched", "n_envs": 2,
                    "kwargs": dict(INTERCEPT_KWARGS)},
            "wrappers": [{"normalize": {"norm_obs": True, "norm_reward": False}}],
            "algo": {"name": "PPO", "hyperparams": {"n_steps": 32, "batch_size": 64, "n_epochs": 1},
                     "policy_kwargs": {"net_arch": [8]}},
            "callbacks": []}


def atc_config() -> dict[str, Any]:
    """PPO with the attention features extractor on batched ATC rows."""
    return {"name": "replay_atc", "seed": 0, "total_timesteps": 256,
            "env": {"type": "pettingzoo", "id": "hlynr/ATC-v0", "vectoriser": "batched", "n_envs": 2,
                    "kwargs": dict(ATC_KWARGS)},
            "algo": {"name": "PPO", "hyperparams": {"n_steps": 32, "batch_size": 64, "n_epochs": 1},
                     "policy_kwargs": {"features_extractor_class": "attention",
                                       "features_extractor_kwargs": {"heads": 1, "key_dim": 8,
                                                                     "mlp": [16]},
                                       "net_arch": [16]}},
            "callbacks": []}
