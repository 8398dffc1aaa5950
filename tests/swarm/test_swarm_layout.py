"""The swarm env declares its teammate slots; the attention extractor reads them with no offsets."""

from __future__ import annotations

import numpy as np
import pytest
import torch as th

from hlynr.algos.attention import AttentionExtractor
from hlynr.algos.builder import build_model
from hlynr.config import validate_config
from hlynr.envs.factory import build_vec_env
from hlynr.envs.swarm import SwarmInterceptEnv, make_batched_swarm
from hlynr.envs.swarm import layout as L
from hlynr.registries import EntityLayout


def _config(vectoriser: str, k: int = 3) -> dict:
    return {"name": "swarm_attention", "seed": 0, "total_timesteps": 64, "torch_threads": 1,
            "env": {"type": "pettingzoo", "id": "hlynr/Swarm-v0", "vectoriser": vectoriser,
                    "kwargs": {"stage": "intermediate", "max_agents": 5, "k_neighbours": k},
                    "n_envs": 2},
            "algo": {"name": "PPO", "hyperparams": {"n_steps": 8, "batch_size": 40},
                     "policy_kwargs": {"features_extractor_class": "attention",
                                       "features_extractor_kwargs": {"heads": 2, "key_dim": 8},
                                       "net_arch": [16]}}}


def test_env_and_batched_rows_declare_the_teammate_slots() -> None:
    want = EntityLayout(own_size=L.BASE_SIZE, slot_size=L.MATE_SIZE, slots=4, valid_index=0)
    env = SwarmInterceptEnv(stage="intermediate", k_neighbours=4)
    assert env.entity_layout == want
    assert want.size == env.observation_space(env.possible_agents[0]).shape[0]
    for workers in (1, 2):
        venv = make_batched_swarm(2, seed=0, workers=workers, stage="intermediate", k_neighbours=4)
        try:
            assert venv.entity_layout == want
        finally:
            venv.close()
    assert SwarmInterceptEnv(k_neighbours=0).entity_layout is None
    # the declared slots are where the env writes its teammates: valid flag, then rel_pos
    obs, _ = env.reset(seed=3)
    row = obs[env.possible_agents[0]]
    for k in range(want.slots):
        at = want.slot_offset(k)
        assert row[at + want.valid_index] == row[L.mate_slice(k, "valid")][0]
        np.testing.assert_array_equal(row[at + 1: at + 3], row[L.mate_slice(k, "rel_pos")])


def _rows_with_two_mates(venv) -> np.ndarray:
    """Observation rows (from a few steps of straight flight) with at least two valid mates."""
    obs = venv.reset()
    for _ in range(5):
        obs, *_ = venv.step(np.zeros((venv.num_envs, L.ACTION_SIZE), np.float32))
    valid = obs[:, [L.mate_slice(k, "valid").start for k in range(3)]] > 0.5
    rows = obs[valid.sum(axis=1) >= 2]
    assert len(rows) >= 2
    return rows


@pytest.mark.parametrize("vectoriser", ["batched", "supersuit"])
def test_attention_builds_with_no_offsets_and_ignores_teammate_order(vectoriser: str) -> None:
    config = validate_config(_config(vectoriser))
    assert "layout" not in config.algo.policy_kwargs["features_extractor_kwargs"]
    venv = build_vec_env(config)
    try:
        model = build_model(config, venv)
        ext = model.policy.pi_features_extractor
        assert isinstance(ext, AttentionExtractor)
        assert ext.layout == L.entity_layout(3)
        rows = _rows_with_two_mates(venv)
    finally:
        venv.close()
    base = L.BASE_SIZE
    slots = rows[:, base:].reshape(len(rows), 3, L.MATE_SIZE)
    swapped = rows.copy()
    swapped[:, base:] = slots[:, [1, 0, 2]].reshape(len(rows), -1)
    assert not np.array_equal(swapped, rows)
    act, _ = model.predict(rows, deterministic=True)
    act_swapped, _ = model.predict(swapped, deterministic=True)
    np.testing.assert_allclose(act_swapped, act, rtol=1e-5, atol=1e-6)
    # the teammates are read at all: moving one changes the action
    moved = rows.copy()
    moved[:, base + 1: base + 3] += 0.5
    with th.no_grad():
        assert not np.allclose(model.predict(moved, deterministic=True)[0], act, atol=1e-6)
