"""Helpers shared by the multi-agent tests (swarm and air traffic)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch as th
from pettingzoo import ParallelEnv


def play(env: ParallelEnv, policy: Any, seed: int) -> tuple[list[dict], dict]:
    """One episode with ``policy(rows) -> actions``; per-step records and the first agent's final info."""
    obs, _ = env.reset(seed=seed)
    steps = []
    while env.agents:
        rows = np.stack([obs[a] for a in env.possible_agents])
        act = policy(rows)
        obs, rew, term, trunc, info = env.step({a: act[i] for i, a in enumerate(env.possible_agents)})
        steps.append({"obs": obs, "rew": rew, "term": term, "trunc": trunc, "info": info})
    return steps, steps[-1]["info"][env.possible_agents[0]]


def assert_actor_ignores_critic_rows(model: Any, venv: Any) -> None:
    """Other critic rows change a centralised model's values, never its actions or log-probs,
    and ``predict`` acts from the local observation alone."""
    obs = th.as_tensor(venv.reset())
    crit = th.as_tensor(venv.critic_observations())
    other = crit + th.randn_like(crit)
    p = model.policy
    with th.no_grad():
        a1, v1, lp1 = p.forward_centralised(obs, crit, deterministic=True)
        a2, v2, lp2 = p.forward_centralised(obs, other, deterministic=True)
        _, _, e1 = p.evaluate_centralised(obs, crit, a1)
        _, _, e2 = p.evaluate_centralised(obs, other, a1)
    assert not th.allclose(v1, v2)
    assert th.equal(a1, a2) and th.equal(lp1, lp2) and th.equal(e1, e2)
    act, _ = model.predict(obs.numpy(), deterministic=True)
    np.testing.assert_allclose(act, np.clip(a1.numpy(), -1, 1), atol=1e-6)
