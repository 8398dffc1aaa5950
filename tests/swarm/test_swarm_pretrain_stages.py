"""``pretrain.stages``: the teacher's data spread over curriculum stages, validated before a run."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from hlynr.config import ConfigError, validate_config
from hlynr.envs.factory import build_vec_env
from hlynr.envs.stages import spread_stages
from hlynr.envs.swarm import layout as L
from hlynr.imitation.collect import collect_round
from hlynr.registries import BASELINES

STAGES = [{"stage": "basic"}, {"stage": "intermediate"}, {"stage": "advanced"}]
BASE = {
    "name": "swarm_bc_stages", "seed": 0, "total_timesteps": 320, "torch_threads": 1,
    "env": {"type": "pettingzoo", "id": "hlynr/Swarm-v0", "vectoriser": "batched",
            "kwargs": {"stage": "basic", "max_agents": 5, "k_neighbours": 3}, "n_envs": 6},
    "algo": {"name": "PPO", "hyperparams": {"n_steps": 8, "batch_size": 60}},
    "pretrain": {"teacher": {"name": "swarm_intercept_point"}, "steps": 600, "stages": STAGES},
    "callbacks": [{"curriculum": {"mode": "adaptive", "stages": STAGES}}],
}


def _data(**pretrain: object) -> dict:
    data = copy.deepcopy(BASE)
    data["pretrain"].update(pretrain)
    return data


def test_stages_are_checked_before_anything_runs() -> None:
    validate_config(_data())
    with pytest.raises(ConfigError, match=r"pretrain\.stages\[1\].*unknown stage 'intermediat'"):
        validate_config(_data(stages=[{"stage": "basic"}, {"stage": "intermediat"}]))
    with pytest.raises(ConfigError, match=r"pretrain\.stages\[0\].*n_agent"):
        validate_config(_data(stages=[{"n_agent": 2}]))
    with pytest.raises(ConfigError, match="need at least as many env copies"):
        validate_config(_data(stages=STAGES * 3))
    no_curriculum = _data()
    no_curriculum["callbacks"] = []
    with pytest.raises(ConfigError, match="stages need a curriculum callback"):
        validate_config(no_curriculum)


def test_each_share_of_copies_collects_at_its_stage() -> None:
    config = validate_config(_data())
    venv = build_vec_env(config, observation_tap=True)
    try:
        spread_stages(venv, config.pretrain.stages)
        teacher = BASELINES.get("swarm_intercept_point").policy(
            venv.observation_space, venv.action_space, {})
        rnd = collect_round(venv, teacher, None, 20, 0.0, np.random.default_rng(0))
        params = venv.get_attr("params")
    finally:
        venv.close()
    rows = 5
    speeds = [params[c * rows].target_speed for c in range(6)]
    assert speeds == [500.0, 500.0, 1000.0, 1000.0, 1700.0, 1700.0]
    agents = [params[c * rows].n_agents for c in range(6)]
    assert agents == [3, 3, 5, 5, 5, 5]
    # the observations of each share come from its stage: live rows per copy follow n_agents
    live = (rnd.obs[0][:, L.SL["active"].start] > 0.5).reshape(6, rows).sum(axis=1)
    np.testing.assert_array_equal(live, agents)
