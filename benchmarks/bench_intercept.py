"""Benchmark: hlynr/Intercept-v0 env steps/s, batched (one and several processes) vs SB3 DummyVecEnv, and PPO.

    python benchmarks/bench_intercept.py              # full run (about 2 minutes)
    python benchmarks/bench_intercept.py --quick      # fewer steps
    python benchmarks/bench_intercept.py --workers 2  # processes of the multi-process form (default 2)

For 1, 64 and 1024 envs it steps, in the same run, the batched VecEnv with the radar sensor
(CV filter, the default ``sensor``; ``standard`` scenario, random actions, automatic resets
included) in one process and with ``workers`` processes (this one plus ``workers - 1`` worker
processes; not for 1 env), and the same scenario as SB3 ``DummyVecEnv`` over single
``InterceptEnv``; it prints env-steps/s and the ratios. The versions are stepped in
alternating rounds so that all see the same machine load. Then it measures end-to-end PPO
steps/s (batched env, 64 envs, frame stack 4, VecNormalize, MLP 64x64, one torch thread) with
one process and with ``workers`` processes. A last line compares the batched env at 1024 envs with
the privileged critic rows (``critic_observations()``) off and on.
Targets: >= 1,000,000 env-steps/s at 1024 envs on 2 cores and >= 100x the DummyVecEnv path.
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

import numpy as np


def _worker_cpu(venv: Any) -> float:
    """CPU seconds used so far by the worker processes of a batched env (Linux ``/proc``)."""
    pool = getattr(venv.unwrapped, "_pool", None)
    if pool is None:
        return 0.0
    total = 0.0
    for p in pool.procs:
        with open(f"/proc/{p.pid}/stat") as f:
            fields = f.read().rsplit(") ", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


class _Runner:
    """Steps one VecEnv under random actions in rounds and accumulates wall and CPU time."""

    def __init__(self, venv: Any, n: int) -> None:
        self.venv, self.n = venv, n
        self.acts = np.random.default_rng(0).uniform(-1, 1, (64, n, 2)).astype(np.float32)
        venv.reset()
        for i in range(3):  # warm-up
            venv.step(self.acts[i])
        self.steps, self.wall, self.cpu, self.i = 0, 0.0, 0.0, 0

    def round(self, seconds: float) -> None:
        """Step for about ``seconds`` of wall-clock time."""
        t0, c0, w0 = time.perf_counter(), time.process_time(), _worker_cpu(self.venv)
        while True:
            self.venv.step(self.acts[self.i % 64])
            self.i += 1
            self.steps += 1
            if time.perf_counter() - t0 > seconds:
                break
        self.wall += time.perf_counter() - t0
        self.cpu += time.process_time() - c0 + _worker_cpu(self.venv) - w0

    def rates(self) -> tuple[float, float]:
        """(wall-clock, per-CPU-second of all its processes) env-steps/s."""
        return self.steps * self.n / self.wall, self.steps * self.n / max(self.cpu, 1e-9)


class _CriticRunner(_Runner):
    """A runner that also reads the privileged critic rows after every step (as AsymmetricPPO)."""

    def __init__(self, venv: Any, n: int) -> None:
        super().__init__(venv, n)
        venv.critic_observations()  # switches the critic state on

    def round(self, seconds: float) -> None:
        """Step and read the critic rows for about ``seconds`` of wall-clock time."""
        t0, c0 = time.perf_counter(), time.process_time()
        while True:
            self.venv.step(self.acts[self.i % 64])
            self.venv.critic_observations()
            self.i += 1
            self.steps += 1
            if time.perf_counter() - t0 > seconds:
                break
        self.wall += time.perf_counter() - t0
        self.cpu += time.process_time() - c0


def _critic_rows(secs: float, rounds: int, sensor: dict[str, str]) -> None:
    """Batched env at 1024 envs (one process) with the privileged critic rows off and on."""
    from hlynr.envs.intercept import BatchedInterceptVecEnv

    def make() -> Any:
        return BatchedInterceptVecEnv(1024, seed=0, scenario="standard", sensor=sensor)

    runners = {"off": _Runner(make(), 1024), "on": _CriticRunner(make(), 1024)}
    for _ in range(rounds):
        for r in runners.values():
            r.round(secs / rounds)
    off, on = runners["off"].rates()[0], runners["on"].rates()[0]
    print(f"1024 envs, 1p, privileged critic rows off / on (read every step): {off:,.0f} / {on:,.0f} "
          f"env-steps/s wall (on = {on / off:.2f}x off)")


def main() -> None:
    """CLI entry point."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-ppo", action="store_true")
    ap.add_argument("--workers", type=int, default=2, help="processes of the multi-process batched env")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    from stable_baselines3.common.vec_env import DummyVecEnv

    from hlynr.envs.intercept import BatchedInterceptVecEnv, InterceptEnv

    sensor = {"mode": "radar", "filter": "cv"}

    secs = 1.5 if args.quick else 4.0
    rounds = 3 if args.quick else 5
    w = args.workers
    print(f"cores available: {os.cpu_count()}  load average: {os.getloadavg()[0]:.2f}")
    print("env-steps/s by wall clock and per CPU-second (CPU time of all processes of that VecEnv;\n"
          "it leaves out time spent waiting for a core). 1p: batched env in one process, "
          f"{w}p: {w} processes;\nratios are over DummyVecEnv of single envs, wall (CPU).")
    print(f"{'envs':>5} {'batched 1p wall / cpu':>23} {f'batched {w}p wall / cpu':>23} "
          f"{'DummyVecEnv wall / cpu':>23} {'1p ratio':>15} {f'{w}p ratio':>15}")

    def make() -> Any:
        return InterceptEnv(scenario="standard", sensor=sensor)

    for n in (1, 64, 1024):
        runners = {"1p": _Runner(BatchedInterceptVecEnv(n, seed=0, scenario="standard", sensor=sensor), n)}
        if n > 1 and w > 1:
            runners["mp"] = _Runner(
                BatchedInterceptVecEnv(n, seed=0, scenario="standard", sensor=sensor, workers=w), n)
        dummy = DummyVecEnv([make for _ in range(n)])
        dummy.seed(0)
        runners["dummy"] = _Runner(dummy, n)
        for _ in range(rounds):
            for r in runners.values():
                r.round(secs / rounds)
        rates = {k: r.rates() for k, r in runners.items()}
        dw, dc = rates["dummy"]

        def cell(key: str, rates: dict = rates) -> str:
            return f"{rates[key][0]:>11,.0f} / {rates[key][1]:>9,.0f}" if key in rates else f"{'-':>23}"

        def ratio(key: str, rates: dict = rates, dw: float = dw, dc: float = dc) -> str:
            return f"{rates[key][0] / dw:>6.0f}x ({rates[key][1] / dc:>4.0f}x)" if key in rates else f"{'-':>15}"

        print(f"{n:>5} {cell('1p')} {cell('mp')} {cell('dummy')} {ratio('1p')} {ratio('mp')}", flush=True)
        for r in runners.values():
            r.venv.close()
    _critic_rows(secs, rounds, sensor)
    print(f"load average after the env benchmark: {os.getloadavg()[0]:.2f}")

    if args.no_ppo:
        return
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import VecFrameStack, VecMonitor, VecNormalize

    for workers in sorted({1, w}):
        venv: Any = BatchedInterceptVecEnv(64, seed=0, scenario="standard", sensor=sensor, workers=workers)
        venv = VecNormalize(VecFrameStack(VecMonitor(venv), 4))
        model = PPO("MlpPolicy", venv, n_steps=64, batch_size=1024, n_epochs=5, device="cpu", seed=0,
                    policy_kwargs=dict(net_arch=[64, 64], activation_fn=torch.nn.Tanh))
        total = 40_960 if args.quick else 163_840
        t0, c0 = time.perf_counter(), time.process_time()
        model.learn(total)
        el, cpu = time.perf_counter() - t0, time.process_time() - c0
        venv.close()
        print(f"PPO end-to-end on standard (64 batched envs in {workers} process(es), n_steps 64, 5 epochs, "
              f"batch 1024): {total / el:,.0f} steps/s wall, {total / cpu:,.0f} steps/s per CPU-second of "
              f"this process ({total} steps in {el:.1f} s)")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
