#!/usr/bin/env python
"""Swarm benchmarks and results.

``python benchmarks/bench_swarm.py speed``: agent-steps/s of the batched swarm engine
(``vectoriser: batched``) at 4, 64 and 256 env copies next to the SuperSuit path (hlynr's
adapter over ``concat_vec_envs_v1``, in-process) at the same copies, measured in the same run,
with ratios; then end-to-end PPO agent-steps/s: the SuperSuit path as ``configs/swarm/swarm_ppo.yaml``
trains it (4 copies) next to PPO and MAPPO on the batched engine (64 copies), with the share of
time spent collecting rollouts (env + policy inference) and in the learner's update.

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

import numpy as np
import torch
from rows_timing import env_rate, train_rate

import hlynr  # noqa: F401  (registers the built-in envs)
from hlynr.envs.swarm import STAGES
from hlynr.envs.swarm.baselines import InterceptPointPolicy
from hlynr.multiagent import build_pettingzoo_vec_env

ID = "hlynr/Swarm-v0"
KW = {"stage": "intermediate", "max_agents": 5, "k_neighbours": 3}


def speed(args: argparse.Namespace) -> None:
    """Print agent-steps/s of the batched engine vs the SuperSuit path, env and PPO, with ratios."""
    print("stage intermediate, max_agents 5, k_neighbours 3; torch threads 1; uniform random actions")
    print(f"{'env':34s} {'agent-steps/s':>14s} {'vs SuperSuit':>13s}")
    for copies in args.copies:
        batched = build_pettingzoo_vec_env(ID, KW, copies, 0, 0, "batched")
        b = env_rate(batched, args.seconds)
        ss = build_pettingzoo_vec_env(ID, KW, copies, 0, 0, "supersuit")
        s = env_rate(ss, args.seconds)
        ss.close()
        print(f"{f'SuperSuit path, {copies} copies':34s} {s:14,.0f} {1.0:13.2f}")
        print(f"{f'batched engine, {copies} copies':34s} {b:14,.0f} {b / s:13.2f}", flush=True)
    ss = build_pettingzoo_vec_env(ID, KW, 4, 0, 0, "supersuit")
    s_rate, s_frac = train_rate(ss, "PPO", args.rollouts, 256, 1024)
    ss.close()
    batched = build_pettingzoo_vec_env(ID, KW, args.ppo_copies, 0, 0, "batched")
    n_steps = 64
    b_rate, b_frac = train_rate(batched, "PPO", args.rollouts, n_steps, n_steps * batched.num_envs // 4)
    print(f"{'PPO end to end':34s} {'agent-steps/s':>14s} {'vs SuperSuit':>13s} {'collecting':>11s} {'learner':>8s}")
    print(f"{'shared PPO, SuperSuit, 4 copies':34s} {s_rate:14,.0f} {1.0:13.2f} {s_frac:11.0%} {1 - s_frac:8.0%}")
    name = f"shared PPO, batched, {args.ppo_copies} copies"
    print(f"{name:34s} {b_rate:14,.0f} {b_rate / s_rate:13.2f} {b_frac:11.0%} {1 - b_frac:8.0%}")
    m_rate, m_frac = train_rate(batched, "MAPPO", args.rollouts, n_steps, n_steps * batched.num_envs // 4)
    name = f"MAPPO, batched, {args.ppo_copies} copies"
    print(f"{name:34s} {m_rate:14,.0f} {m_rate / s_rate:13.2f} {m_frac:11.0%} {1 - m_frac:8.0%}")


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
    venv = build_pettingzoo_vec_env(ID, {"stage": stage}, copies, 0, None, "batched")
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
    sp = sub.add_parser("speed", help="agent-steps/s, batched engine vs SuperSuit path")
    sp.add_argument("--copies", type=int, nargs="+", default=[4, 64, 256])
    sp.add_argument("--seconds", type=float, default=3.0, help="seconds of stepping per env and size")
    sp.add_argument("--rollouts", type=int, default=3)
    sp.add_argument("--ppo-copies", type=int, default=64)
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
