"""RecurrentMAPPO: LSTM actor on local observations, MLP critic on critic rows, decentralised execution."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch as th
from hlynr_testing import run_fresh

import hlynr  # noqa: F401  (registers the built-in envs)
from hlynr.algos.centralised import RecurrentMAPPO
from hlynr.envs.intercept import BatchedInterceptVecEnv
from hlynr.envs.swarm import make_batched_swarm

KW = {"stage": "basic", "max_steps": 40}
REPO = Path(__file__).resolve().parents[2]
BETA = 0.99999


def _model(copies: int = 4, policy_kwargs: dict | None = None, **kw: object) -> RecurrentMAPPO:
    venv = make_batched_swarm(copies, seed=0, **KW)
    pk = {"net_arch": [32], "lstm_hidden_size": 16, **(policy_kwargs or {})}
    return RecurrentMAPPO("MlpLstmPolicy", venv, n_steps=16, batch_size=160, n_epochs=2, seed=0,
                          device="cpu", policy_kwargs=pk, **kw)


def test_changing_the_critic_rows_changes_the_value_never_the_action() -> None:
    model = _model()
    model.learn(16 * model.env.num_envs)
    venv, p = model.env, model.policy
    n = venv.num_envs
    obs = th.as_tensor(venv.reset())
    crit = th.as_tensor(venv.critic_observations())
    other = crit + th.randn_like(crit)
    h = th.randn(1, n, 16)
    states, starts = (h, th.randn(1, n, 16)), th.zeros(n)
    with th.no_grad():
        a1, lp1, s1 = p.act(obs, states, starts, deterministic=True)
        a2, lp2, s2 = p.act(obs, states, starts, deterministic=True)
        v1, v2 = p.values_from_critic(crit), p.values_from_critic(other)
    assert not th.allclose(v1, v2)
    assert th.equal(a1, a2) and th.equal(lp1, lp2) and th.equal(s1[0], s2[0]) and th.equal(s1[1], s2[1])
    # training's evaluation of joint [local | critic] rows: log-probs and entropies ignore the critic part
    from sb3_contrib.common.recurrent.type_aliases import RNNStates

    rnn = RNNStates(states, states)
    positions = th.arange(n)
    with th.no_grad():
        e1 = p.evaluate_real_rows(th.cat([obs, crit], 1), a1, rnn, positions, n, 1)
        e2 = p.evaluate_real_rows(th.cat([obs, other], 1), a1, rnn, positions, n, 1)
    assert not th.allclose(e1[0], e2[0])
    assert th.equal(e1[1], e2[1]) and th.equal(e1[2], e2[2])
    th.testing.assert_close(e1[1], lp1)  # the same log-probability as acting
    # predict (local observations and the LSTM state only) gives the same actions
    act, state = model.predict(obs.numpy(), state=(h.numpy(), states[1].numpy()),
                               episode_start=np.zeros(n, bool), deterministic=True)
    np.testing.assert_allclose(act, np.clip(a1.numpy(), -1, 1), atol=1e-6)
    np.testing.assert_allclose(state[0], s1[0].numpy(), atol=1e-6)
    with pytest.raises(RuntimeError, match="global state"):
        p.predict_values(obs, states, starts)
    with pytest.raises(RuntimeError, match="global state"):
        p(obs, states, starts)


def test_sb3_contrib_load_predicts_from_local_observations_in_a_fresh_process(tmp_path: Path) -> None:
    model = _model()
    model.learn(16 * model.env.num_envs)
    model.save(tmp_path / "m")
    venv = model.env
    obs_seq, want, state, start = [], [], None, np.ones(venv.num_envs, bool)
    obs = venv.reset()
    for _ in range(6):  # several steps: the recurrent state must be carried the same way
        act, state = model.predict(obs, state=state, episode_start=start, deterministic=True)
        obs_seq.append(obs)
        want.append(act)
        obs, _, start, _ = venv.step(act)
    np.save(tmp_path / "obs.npy", np.stack(obs_seq))
    np.save(tmp_path / "want.npy", np.stack(want))
    code = (
        "import numpy as np, sys; from sb3_contrib import RecurrentPPO; d = sys.argv[1]; "
        "m = RecurrentPPO.load(d + '/m', device='cpu'); obs = np.load(d + '/obs.npy'); "
        "want = np.load(d + '/want.npy'); state = None; start = np.ones(obs.shape[1], bool)\n"
        "for o, w in zip(obs, want):\n"
        "    a, state = m.predict(o, state=state, episode_start=start, deterministic=True)\n"
        "    assert np.array_equal(a, w); start = np.zeros(obs.shape[1], bool)\n"
        "print('ok', type(m.policy).__name__)"
    )
    assert run_fresh(code, str(tmp_path)).startswith("ok RecurrentCentralisedCriticPolicy")
    from hlynr.algos.recurrent_ppo import RecurrentPPO

    hl = RecurrentPPO.load(tmp_path / "m", device="cpu")
    act, _ = hl.predict(obs_seq[0], episode_start=np.ones(len(obs_seq[0]), bool), deterministic=True)
    np.testing.assert_array_equal(act, want[0])


def test_value_norm_saved_restored_and_continued_on_resume(tmp_path: Path) -> None:
    model = _model()
    model.learn(2 * 16 * model.env.num_envs)
    before = {k: v.clone() for k, v in model.policy.value_norm.state_dict().items()}
    assert before["debiasing_term"].item() == pytest.approx((1 - BETA) * (1 + BETA))
    assert before["running_mean"].item() != 0
    model.save(tmp_path / "m")
    loaded = RecurrentMAPPO.load(tmp_path / "m", env=make_batched_swarm(4, seed=1, **KW), device="cpu")
    for k, v in loaded.policy.value_norm.state_dict().items():
        assert th.equal(v, before[k]), k
    assert (loaded.value_loss, loaded.value_normalisation) == ("mse", True)
    loaded.learn(16 * loaded.env.num_envs, reset_num_timesteps=False)
    assert loaded.policy.value_norm.debiasing_term.item() == pytest.approx(
        before["debiasing_term"].item() * BETA + (1 - BETA))


def test_time_limit_ends_bootstrap_from_the_terminal_critic_row() -> None:
    model = _model()
    row = th.as_tensor(model.env.critic_observations()[:1])
    with th.no_grad():
        v = model.policy.values_from_critic(row)[0, 0].item()
    rewards = np.array([1.0, 1.0, 1.0], np.float32)
    infos = [{"terminal_critic_observation": row[0].numpy(), "TimeLimit.truncated": True},
             {"terminal_critic_observation": row[0].numpy(), "TimeLimit.truncated": False},
             {}]
    model._bootstrap_time_limits(rewards, np.array([True, True, False]), infos)
    assert rewards[0] == pytest.approx(1.0 + model.gamma * v, rel=1e-6) and v != 0
    np.testing.assert_array_equal(rewards[1:], [1.0, 1.0])  # a real end and a running row: untouched


def test_privileged_critic_on_the_intercept_env_trains() -> None:
    env = BatchedInterceptVecEnv(4, seed=0, scenario="manoeuvring", sensor={"mode": "radar", "filter": "ca"})
    model = RecurrentMAPPO("MlpLstmPolicy", env, n_steps=16, batch_size=64, n_epochs=1, seed=0,
                           device="cpu", policy_kwargs={"net_arch": [16], "lstm_hidden_size": 8})
    assert model.policy.critic_observation_space == env.critic_observation_space
    model.learn(2 * 16 * 4)
    assert model.num_timesteps == 128 and model.policy.value_norm.debiasing_term.item() > 0


def test_env_without_global_state_is_refused_with_one_message() -> None:
    from hlynr.multiagent import build_pettingzoo_vec_env

    with pytest.raises(ValueError, match="^RecurrentMAPPO needs a global state for its centralised critic"):
        RecurrentMAPPO("MlpLstmPolicy", build_pettingzoo_vec_env("hlynr/Swarm-v0", KW, 1, 0, 0),
                       n_steps=8, batch_size=40)


def test_config_without_global_state_fails_validation_with_one_line() -> None:
    out = subprocess.run([sys.executable, "train.py", "--check", "--config",
                          "configs/swarm/swarm_recurrent_mappo.yaml", "--set", "env.vectoriser=supersuit"],
                         capture_output=True, text=True, cwd=REPO, timeout=120)
    text = out.stderr + out.stdout
    assert out.returncode == 2 and "Traceback" not in text
    assert "RecurrentMAPPO's centralised critic needs a global state" in text
    assert "with vectoriser 'supersuit' publishes no global state" in text


def test_critic_lstm_switches_are_not_settings() -> None:
    with pytest.raises(ValueError, match="enable_critic_lstm: not settings of a centralised critic"):
        _model(policy_kwargs={"enable_critic_lstm": True})
