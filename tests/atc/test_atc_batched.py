"""The batched ATC VecEnv of aircraft rows: row for row equal to the SuperSuit path (scenarios,
curriculum changes), per-copy parameters, workers, critic rows and the config form."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from hlynr.envs.atc import ATCParams, make_batched_atc
from hlynr.envs.atc.mvp import MVPParams, make_mvp
from hlynr.envs.atc.observation import state_size
from hlynr.multiagent import build_pettingzoo_vec_env
from hlynr.multiagent.rows import AgentRowsVecEnv

KW: dict[str, Any] = {"max_aircraft": 4, "n_aircraft": 4, "k_intruders": 3, "max_steps": 45,
                      "leg_nm": 25.0}


def _policy(venv: Any) -> Any:
    """MVP plus noise: some episodes end with every aircraft out, others on the time limit."""
    mvp = make_mvp(venv.observation_space, venv.action_space, MVPParams())

    def act(obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        a = mvp.act(obs) + rng.normal(0.0, 0.5, (len(obs), 2))
        return np.clip(a, -1.0, 1.0).astype(np.float32)
    return act


def _assert_info_equal(a: dict, b: dict, critic: bool = False) -> None:
    """Equal infos; the batched side (``b``) also carries the terminal critic row if ``critic``."""
    assert a.keys() | ({"terminal_critic_observation"} & b.keys() if critic else set()) == b.keys()
    for k in a.keys() - {"episode"}:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    if "episode" in a:
        assert a["episode"]["l"] == b["episode"]["l"]
        assert a["episode"]["r"] == pytest.approx(b["episode"]["r"], rel=1e-6, abs=1e-6)


def _compare(kw: dict[str, Any], copies: int, steps: int, seed: int,
             changes: dict[int, tuple[list[int] | None, dict]] | None = None) -> tuple[int, int]:
    """Step the SuperSuit and the batched VecEnv side by side; every observation, reward, done
    flag and info must be equal. ``changes``: step -> (rows or None, params) for apply_params.
    Returns (episodes terminated, episodes truncated)."""
    ss = build_pettingzoo_vec_env("hlynr/ATC-v0", kw, copies, 0, seed, "supersuit")
    bt = build_pettingzoo_vec_env("hlynr/ATC-v0", kw, copies, 0, seed, "batched")
    assert isinstance(bt, AgentRowsVecEnv)
    act_fn, rng = _policy(bt), np.random.default_rng(seed)
    obs = bt.reset()
    np.testing.assert_array_equal(ss.reset(), obs)
    n_term = n_trunc = 0
    try:
        for t in range(steps):
            if changes and t in changes:
                rows, params = changes[t]
                for v in (ss, bt):
                    v.env_method("apply_params", indices=rows, **params)
            act = act_fn(obs, rng)
            o1, r1, d1, i1 = ss.step(act)
            obs, r2, d2, i2 = bt.step(act)
            np.testing.assert_array_equal(o1, obs)
            np.testing.assert_array_equal(r1, r2)
            np.testing.assert_array_equal(d1, d2)
            for a, b in zip(i1, i2):
                _assert_info_equal(a, b, critic=True)
            for info in i2:
                if "episode" in info:
                    n_trunc += info["TimeLimit.truncated"]
                    n_term += not info["TimeLimit.truncated"]
            # the critic rows are the env's own global state plus the slot id
            state = np.stack(ss.env_method("state"))
            crit = bt.critic_observations()
            np.testing.assert_array_equal(crit[:, :-kw["max_aircraft"]], state)
            np.testing.assert_array_equal(crit[:, -kw["max_aircraft"]:],
                                          np.tile(np.eye(kw["max_aircraft"]), (copies, 1)))
        assert [p.model_dump() for p in ss.get_attr("params")] == [
            p.model_dump() for p in bt.get_attr("params")]
    finally:
        ss.close()
        bt.close()
    return n_term, n_trunc


@pytest.mark.parametrize("scenario", ["head_on", "t_formation", "canonical_crossing", "converging",
                                      "random"])
def test_batched_equals_supersuit_row_for_row(scenario: str) -> None:
    kw = {**KW, "scenario": scenario, "altitude_layers": 2 if scenario == "random" else 1}
    n_term, n_trunc = _compare(kw, copies=3, steps=100, seed=4)
    assert n_term + n_trunc >= 6 and n_trunc >= 1  # episodes ended, some on the time limit


def test_batched_equals_supersuit_over_curriculum_changes() -> None:
    kw = {**KW, "scenario": "head_on"}
    changes = {10: (None, {"scenario": "canonical_crossing"}),        # every copy
               60: ([4, 5], {"scenario": "random", "max_steps": 30}),  # copy 1 only
               70: (None, {"los_entry_penalty": 5.0})}
    n_term, n_trunc = _compare(kw, copies=3, steps=150, seed=9, changes=changes)
    assert n_term + n_trunc >= 8


def test_parameters_are_per_copy_and_batches_are_dropped_when_unused() -> None:
    venv = make_batched_atc(3, seed=0, **{**KW, "scenario": "head_on"})
    venv.reset()
    venv.env_method("apply_params", indices=[5], scenario="t_formation")  # row 5 is copy 1
    assert [p.scenario for p in venv.get_attr("params")[::4]] == ["head_on"] * 3
    venv.reset()
    assert [p.scenario for p in venv.get_attr("params")[::4]] == ["head_on", "t_formation", "head_on"]
    assert len(venv.engine._groups) == 2
    venv.env_method("apply_params", scenario="t_formation")
    venv.reset()
    assert len(venv.engine._groups) == 1 and venv.engine._groups[0].params.scenario == "t_formation"
    with pytest.raises(ValueError, match="did you mean 'scenario'"):
        venv.env_method("apply_params", scenaro="random")
    with pytest.raises(ValueError, match="max_aircraft"):
        venv.env_method("apply_params", max_aircraft=8)


def test_terminal_critic_rows_are_taken_before_the_aircraft_go_dark() -> None:
    venv = make_batched_atc(2, seed=1, **{**KW, "scenario": "canonical_crossing", "max_steps": 5})
    venv.reset()
    for _ in range(5):
        _, _, done, infos = venv.step(np.zeros((8, 2), dtype=np.float32))
    assert done.all() and all(i["TimeLimit.truncated"] for i in infos)
    m, s = 4, state_size(4)
    for r, info in enumerate(infos):
        row = info["terminal_critic_observation"]
        assert row.shape == (s + m,) and row[-m:][r % m] == 1.0
        assert row[s - 1] == 1.0  # time fraction at the limit
        assert all(row[8 * j] == 1.0 for j in range(m))  # all four still flying
    live = venv.critic_observations()  # after the automatic reset: the new episodes
    assert (live[:, state_size(4) - 1] == 0.0).all()


def test_workers_change_speed_never_trajectories() -> None:
    kw = {**KW, "scenario": "random"}
    one, three = make_batched_atc(5, seed=3, **kw), make_batched_atc(5, seed=3, workers=3, **kw)
    try:
        obs = one.reset()
        np.testing.assert_array_equal(obs, three.reset())
        act_fn, rng = _policy(one), np.random.default_rng(0)
        for t in range(60):
            if t == 10:
                for v in (one, three):
                    v.env_method("apply_params", indices=[8, 19], scenario="converging")  # copies 2, 4
            act = act_fn(obs, rng)
            obs, r1, d1, i1 = one.step(act)
            o3, r3, d3, i3 = three.step(act)
            np.testing.assert_array_equal(obs, o3)
            np.testing.assert_array_equal(r1, r3)
            np.testing.assert_array_equal(d1, d3)
            for a, b in zip(i1, i3):
                _assert_info_equal(a, b)
            np.testing.assert_array_equal(one.critic_observations(), three.critic_observations())
        assert [p.scenario for p in three.get_attr("params")[::4]] == [
            p.scenario for p in one.get_attr("params")[::4]]
    finally:
        three.close()


def test_batched_config_form_validates() -> None:
    from hlynr.config.schema import PettingZooEnvConfig

    cfg = PettingZooEnvConfig(type="pettingzoo", id="hlynr/ATC-v0", vectoriser="batched", workers=2)
    assert cfg.vectoriser == "batched"
    with pytest.raises(ValueError, match="did you mean"):
        make_batched_atc(2, scenaro="random")
    assert ATCParams().max_aircraft == make_batched_atc(1).rows_per_episode
