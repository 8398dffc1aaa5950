#!/usr/bin/env python
"""Speed of ``hlynr/ATC-v0``: the batched engine next to the SuperSuit path, same run.

``python benchmarks/bench_atc.py [--seconds S]`` prints, for 4, 64 and 256 copies of 8 aircraft
and of 20 aircraft (random sector traffic, random actions), aircraft-steps/s of

* ``engine``: :class:`hlynr.envs.atc.ATCEngine` stepping every copy as one set of arrays
  (finished copies reset in place), and
* ``supersuit``: the same env as PettingZoo copies through the parameter-sharing path
  (``env: {type: pettingzoo}``: SuperSuit ``concat_vec_envs_v1`` behind hlynr's adapter, one
  process), the reference,

and the ratio engine / supersuit. An aircraft-step is one aircraft row advanced by one step.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import hlynr.envs.atc  # noqa: F401  (registers hlynr/ATC-v0)
from hlynr.envs.atc import ATCEngine, ATCParams
from hlynr.multiagent import build_pettingzoo_vec_env


def _kwargs(n: int) -> dict:
    return {"scenario": "random", "max_aircraft": n, "n_aircraft": n, "k_intruders": min(n - 1, 8)}


def bench_engine(n: int, copies: int, seconds: float) -> float:
    """Aircraft-steps/s of the batched engine."""
    eng = ATCEngine(ATCParams(**_kwargs(n)), n_copies=copies)
    eng.reset(list(range(copies)))
    rng = np.random.default_rng(0)
    act = rng.uniform(-1, 1, (64, copies, n, 2))
    steps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        _, _, term, trunc, _ = eng.step(act[steps % 64])
        done = np.flatnonzero(term | trunc)
        if done.size:
            eng.reset(None, done)
        steps += 1
    return steps * copies * n / (time.perf_counter() - t0)


def bench_supersuit(n: int, copies: int, seconds: float) -> float:
    """Aircraft-steps/s of the PettingZoo env through the parameter-sharing VecEnv."""
    venv = build_pettingzoo_vec_env("hlynr/ATC-v0", _kwargs(n), copies, 0, 0)
    venv.reset()
    rng = np.random.default_rng(0)
    act = rng.uniform(-1, 1, (64, venv.num_envs, 2)).astype(np.float32)
    steps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        venv.step(act[steps % 64])
        steps += 1
    rate = steps * venv.num_envs / (time.perf_counter() - t0)
    venv.close()
    return rate


def main() -> None:
    """Print the table."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    args = ap.parse_args()
    print(f"{'aircraft':>8} {'copies':>6} {'engine a-steps/s':>17} {'supersuit a-steps/s':>20} {'ratio':>7}")
    for n in (8, 20):
        for copies in (4, 64, 256):
            e = bench_engine(n, copies, args.seconds)
            s = bench_supersuit(n, copies, args.seconds)
            print(f"{n:>8} {copies:>6} {e:>17,.0f} {s:>20,.0f} {e / s:>7.1f}", flush=True)


if __name__ == "__main__":
    main()
