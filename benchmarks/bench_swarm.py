#!/usr/bin/env python
"""Swarm benchmarks and results.

``python benchmarks/bench_swarm.py speed``: agent-steps/s of the parameter-shared vector env
(hlynr's adapter over SuperSuit) and of PPO end to end, beside a single-agent reference of the
same observation size measured in the same run (the same swarm physics seen by one agent as a
plain ``gymnasium.Env`` in SB3's ``DummyVecEnv``, as many env copies as the shared env has agent
rows), with ratios.

``python benchmarks/bench_swarm.py evaluate --model RUN/final/model.zip [--vecnormalize PKL]``:
interception rate (95 % Wilson interval), mean team reward, episode length, fuel remaining and
time at success of a trained shared policy and of the scripted baseline on the same seeds, per
curriculum stage.
"""

from __future__ import annotations

import argparse
import math
import time
from typing import Any

import gymnasium as gym
import numpy as np
import torch

import hlynr.envs.swarm  # noqa: F401  (registers hlynr/Swarm-v0)
from hlynr.envs.swarm import STAGES, SwarmInterceptEnv
from hlynr.envs.swarm.baselines import InterceptPointPolicy
from hlynr.multiagent import build_pettingzoo_vec_env

ID = "hlynr/Swarm-v0"


class SingleAgentView(gym.Env):
    """Agent 0 of a swarm env as a single-agent Gymnasium env (the single-agent reference)."""

    def __init__(self, **kwargs: Any) -> None:
        self.env = SwarmInterceptEnv(**kwargs)
        self.observation_space = self.env.observation_space("interceptor_0")
        self.action_space = self.env.action_space("interceptor_0")

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        obs, infos = self.env.reset(seed=seed)
        return obs["interceptor_0"], infos["interceptor_0"]

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        acts = {a: np.zeros(2) for a in self.env.agents}
        acts["interceptor_0"] = action
        obs, rew, term, trunc, info = self.env.step(acts)
        a = "interceptor_0"
        return obs[a], rew[a], term[a], trunc[a], info[a]


def _raw_rate(venv: Any, steps: int) -> float:
    rng = np.random.default_rng(0)
    acts = rng.uniform(-1, 1, (steps, venv.num_envs, 2)).astype(np.float32)
    venv.reset()
    t0 = time.perf_counter()
    for k in range(steps):
        venv.step(acts[k])
    return steps * venv.num_envs / (time.perf_counter() - t0)


def _ppo_rate(venv: Any, rollouts: int, n_steps: int) -> float:
    from stable_baselines3 import PPO

    model = PPO("MlpPolicy", venv, n_steps=n_steps, batch_size=n_steps * venv.num_envs // 4,
                n_epochs=5, seed=0, policy_kwargs={"net_arch": [64, 64]}, device="cpu")
    model.learn(n_steps * venv.num_envs)  # warm-up rollout (allocations, first reset)
    t0 = time.perf_counter()
    model.learn(rollouts * n_steps * venv.num_envs, reset_num_timesteps=False)
    return rollouts * n_steps * venv.num_envs / (time.perf_counter() - t0)


def speed(args: argparse.Namespace) -> None:
    """Print agent-steps/s of shared vs single-agent envs and PPO, with ratios."""
    from stable_baselines3.common.vec_env import DummyVecEnv

    kw = {"stage": "intermediate", "max_agents": 5, "k_neighbours": 3}
    single_kw = {"stage": "intermediate", "n_agents": 1, "max_agents": 5, "k_neighbours": 3}
    rows = args.copies * kw["max_agents"]
    print(f"obs size {SwarmInterceptEnv(**kw).observation_space('x').shape[0]} (both); "
          f"{rows} agent rows per step (shared: {args.copies} copies x 5 agents; "
          f"single: {rows} DummyVecEnv envs x 1 agent); torch threads 1")
    single = DummyVecEnv([lambda: SingleAgentView(**single_kw) for _ in range(rows)])
    single.seed(0)
    res: dict[str, float] = {}
    res["single env"] = _raw_rate(single, args.steps)
    for nc in (0, 2):
        shared = build_pettingzoo_vec_env(ID, kw, args.copies, nc, 0)
        res[f"shared env num_cpus={nc}"] = _raw_rate(shared, args.steps)
        shared.close()
    res["single PPO"] = _ppo_rate(single, args.rollouts, 128)
    shared = build_pettingzoo_vec_env(ID, kw, args.copies, 0, 0)
    res["shared PPO num_cpus=0"] = _ppo_rate(shared, args.rollouts, 128)
    shared.close()
    ref_env, ref_ppo = res["single env"], res["single PPO"]
    print(f"{'measurement':28s} {'agent-steps/s':>14s} {'ratio vs single-agent':>22s}")
    for name, v in res.items():
        ref = ref_ppo if "PPO" in name else ref_env
        print(f"{name:28s} {v:14,.0f} {v / ref:22.2f}")


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of a binomial proportion ``k / n``."""
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    den = 1 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return (max(0.0, mid - half), min(1.0, mid + half))


def run_episodes(policy: Any, stage: str, episodes: int, seed: int, copies: int = 10,
                 obs_fn: Any = None, recurrent: bool = False) -> dict[str, float]:
    """Team-episode statistics of ``policy`` on ``stage``, seeds ``seed .. seed+episodes-1``."""
    venv = build_pettingzoo_vec_env(ID, {"stage": stage}, copies, 0, None)
    n = venv.rows_per_episode
    outs: list[dict[str, Any]] = []
    for start in range(seed, seed + episodes, copies):
        venv.seed(start)
        obs = venv.reset()
        state, starts = None, np.ones(venv.num_envs, dtype=bool)
        done_copy = np.zeros(copies, dtype=bool)
        while not done_copy.all():
            o = obs_fn(obs) if obs_fn else obs
            if recurrent:
                act, state = policy.predict(o, state=state, episode_start=starts, deterministic=True)
            else:
                act, _ = policy.predict(o, deterministic=True)
            obs, _, dones, infos = venv.step(act)
            starts = dones
            for c in range(copies):
                if not done_copy[c] and "episode" in infos[c * n]:
                    done_copy[c] = True
                    if start + c < seed + episodes:
                        outs.append(infos[c * n])
    venv.close()
    k = sum(bool(o["is_success"]) for o in outs)
    lo, hi = wilson(k, len(outs))
    succ = [o for o in outs if o["is_success"]]
    return {
        "episodes": len(outs), "rate": k / len(outs), "lo": lo, "hi": hi,
        "reward": float(np.mean([o["episode"]["r"] for o in outs])),
        "length": float(np.mean([o["episode"]["l"] for o in outs])),
        "fuel_at_success": float(np.mean([o["fuel_remaining"] for o in succ])) if succ else float("nan"),
        "time_to_intercept": float(np.mean([o["episode_time"] for o in succ])) if succ else float("nan"),
        "miss_p50": float(np.median([o["miss_distance"] for o in outs])),
    }


def evaluate(args: argparse.Namespace) -> None:
    """Print the results table rows: trained policy vs scripted baseline, same seeds, per stage."""
    rows: list[tuple[str, str, dict[str, float]]] = []
    policies: list[tuple[str, Any, Any, bool]] = [("scripted intercept-point", InterceptPointPolicy(), None, False)]
    if args.model:
        from stable_baselines3 import PPO

        recurrent = args.recurrent
        if recurrent:
            from sb3_contrib import RecurrentPPO as Algo
        else:
            Algo = PPO
        model = Algo.load(args.model, device="cpu")
        obs_fn = None
        if args.vecnormalize:
            import pickle

            with open(args.vecnormalize, "rb") as f:
                vn = pickle.load(f)
            obs_fn = lambda o: np.clip((o - vn.obs_rms.mean) / np.sqrt(vn.obs_rms.var + vn.epsilon),  # noqa: E731
                                       -vn.clip_obs, vn.clip_obs).astype(np.float32)
        policies.append((args.label, model, obs_fn, recurrent))
    stages = args.stages or list(STAGES)
    for name, pol, fn, rec in policies:
        for stage in stages:
            t0 = time.perf_counter()
            r = run_episodes(pol, stage, args.episodes, args.seed, obs_fn=fn, recurrent=rec)
            rows.append((name, stage, r))
            print(f"{name:26s} {stage:12s} n={r['episodes']:4d} intercept {r['rate']:.3f} "
                  f"[{r['lo']:.3f}, {r['hi']:.3f}] team_reward {r['reward']:+.3f} "
                  f"len {r['length']:.1f} fuel@succ {r['fuel_at_success']:.3f} "
                  f"t_int {r['time_to_intercept']:.2f}s miss_p50 {r['miss_p50']:.1f}m "
                  f"({time.perf_counter() - t0:.0f}s)", flush=True)


def main() -> None:
    torch.set_num_threads(1)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sp = sub.add_parser("speed", help="agent-steps/s, shared vs single-agent")
    sp.add_argument("--copies", type=int, default=4)
    sp.add_argument("--steps", type=int, default=500)
    sp.add_argument("--rollouts", type=int, default=3)
    ev = sub.add_parser("evaluate", help="trained policy vs scripted baseline, per stage")
    ev.add_argument("--model", default=None)
    ev.add_argument("--vecnormalize", default=None)
    ev.add_argument("--recurrent", action="store_true", help="model is an sb3_contrib RecurrentPPO")
    ev.add_argument("--label", default="shared PPO")
    ev.add_argument("--episodes", type=int, default=200)
    ev.add_argument("--seed", type=int, default=10_000)
    ev.add_argument("--stages", nargs="*", default=None)
    args = ap.parse_args()
    speed(args) if args.cmd == "speed" else evaluate(args)


if __name__ == "__main__":
    main()
