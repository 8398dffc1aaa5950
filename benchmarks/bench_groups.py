"""Run groups: the wall-clock time of 4 seeds with ``--jobs 2`` against one seed, and the cost of
the group machinery (a group of one seed against the plain run of that seed).

Each figure is the whole command as a user runs it (``python train.py ... --quiet``: start-up,
config validation, training, saving), the median over ``--repeats`` rounds; the three commands
are interleaved within each round, so load from other jobs hits them alike. Next to the wall
time, the CPU time of the command and all its processes: on a machine other jobs keep busy, the
wall time of parallel seeds says how many cores were free, the CPU time what the group costs.
The config is a small PPO on CartPole-v1 (4 envs, n_steps 256, one torch thread).

    python benchmarks/bench_groups.py                  # 100 000 timesteps per seed, 3 rounds
    python benchmarks/bench_groups.py --quick          # 10 000 timesteps, 1 round

With 2 free cores, ``4 seeds --jobs 2`` takes at best 2x one seed plus the group's own start-up
(the parent validates the config before any seed starts: a few seconds, once per group); the
target is at most 2.2x. Short runs weigh that start-up more.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
TARGET = 2.2


def config(timesteps: int) -> dict:
    return {"name": "bench_groups", "seed": 0, "total_timesteps": timesteps, "torch_threads": 1,
            "env": {"id": "CartPole-v1", "n_envs": 4},
            "algo": {"name": "PPO", "hyperparams": {"n_steps": 256, "batch_size": 256,
                                                    "n_epochs": 4},
                     "policy_kwargs": {"net_arch": [64, 64]}}}


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # every waited-for descendant
    return usage.ru_utime + usage.ru_stime


def timed(args: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds of the command ``python train.py ARGS --quiet``; it must succeed."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    t0, c0 = time.perf_counter(), _cpu()
    out = subprocess.run([sys.executable, "train.py", *args, "--quiet"], cwd=REPO, env=env,
                         capture_output=True, text=True)
    seconds, cpu = time.perf_counter() - t0, _cpu() - c0
    if out.returncode != 0:
        raise SystemExit(f"train.py {' '.join(args)} failed ({out.returncode}):\n{out.stdout}{out.stderr}")
    return seconds, cpu


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--timesteps", type=int, default=100_000, help="timesteps per seed")
    p.add_argument("--repeats", type=int, default=3, help="rounds (the median is reported)")
    p.add_argument("--quick", action="store_true", help="10 000 timesteps, 1 round")
    args = p.parse_args()
    timesteps, repeats = (10_000, 1) if args.quick else (args.timesteps, args.repeats)
    runs: dict[str, list[tuple[float, float]]] = {"plain": [], "group1": [], "group4": []}
    with tempfile.TemporaryDirectory(prefix="bench_groups_") as tmp:
        path = Path(tmp) / "config.yaml"
        path.write_text(yaml.safe_dump(config(timesteps), sort_keys=False))
        for r in range(repeats):
            base = ["--config", str(path)]
            runs["plain"].append(timed([*base, "--run-dir", f"{tmp}/plain{r}"]))
            runs["group1"].append(timed([*base, "--seeds", "0", "--jobs", "1",
                                         "--run-dir", f"{tmp}/group1-{r}"]))
            runs["group4"].append(timed([*base, "--seeds", "0-3", "--jobs", "2",
                                         "--run-dir", f"{tmp}/group4-{r}"]))
    wall = {k: statistics.median(w for w, _ in v) for k, v in runs.items()}
    cpu = {k: statistics.median(c for _, c in v) for k, v in runs.items()}
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"{timesteps:,} timesteps per seed, PPO on CartPole-v1, median of {repeats} round(s); "
          f"{cores} cores, load average {load}\n")
    print("| command | wall time (s) | vs one seed | CPU time (s) | vs one seed |")
    print("| --- | ---: | ---: | ---: | ---: |")
    rows = [("plain", "one seed: `train.py --config C`"),
            ("group1", "group of one seed: `--seeds 0 --jobs 1`"),
            ("group4", "4 seeds: `--seeds 0-3 --jobs 2`")]
    for key, label in rows:
        print(f"| {label} | {wall[key]:.1f} | {wall[key] / wall['plain']:.2f}x | {cpu[key]:.1f} | "
              f"{cpu[key] / cpu['plain']:.2f}x |")
    print(f"\n4 seeds on 2 jobs: {wall['group4'] / wall['plain']:.2f}x the wall time of one seed "
          f"(target <= {TARGET}x with 2 free cores)")
    print(f"group machinery: {wall['group1'] - wall['plain']:+.1f} s wall, "
          f"{cpu['group1'] - cpu['plain']:+.1f} s CPU per group of one seed (the parent process)")


if __name__ == "__main__":
    main()
