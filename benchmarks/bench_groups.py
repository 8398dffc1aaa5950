"""Run groups: the wall-clock time of 4 seeds with ``--jobs 2`` against one seed, and the cost of
the group machinery (a group of one seed against the plain run of that seed).

Each figure is the whole command as a user runs it (``python train.py ... --quiet``: start-up,
config validation, training, saving), the median over ``--repeats`` rounds; the three commands
are interleaved within each round, so load from other jobs hits them alike. The config is a
small PPO on CartPole-v1 (4 envs, n_steps 256, one torch thread).

    python benchmarks/bench_groups.py                  # 100 000 timesteps per seed, 3 rounds
    python benchmarks/bench_groups.py --quick          # 10 000 timesteps, 1 round

With 2 free cores, ``4 seeds --jobs 2`` takes at best 2x one seed plus the group's own start-up
(the parent validates the config before any seed starts: a few seconds, once per group); the
target is at most 2.2x. Short runs weigh that start-up more.
"""

from __future__ import annotations

import argparse
import os
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


def timed(args: list[str]) -> float:
    """Seconds the command ``python train.py ARGS --quiet`` takes; it must succeed."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "train.py", *args, "--quiet"], cwd=REPO, env=env,
                         capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if out.returncode != 0:
        raise SystemExit(f"train.py {' '.join(args)} failed ({out.returncode}):\n{out.stdout}{out.stderr}")
    return seconds


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--timesteps", type=int, default=100_000, help="timesteps per seed")
    p.add_argument("--repeats", type=int, default=3, help="rounds (the median is reported)")
    p.add_argument("--quick", action="store_true", help="10 000 timesteps, 1 round")
    args = p.parse_args()
    timesteps, repeats = (10_000, 1) if args.quick else (args.timesteps, args.repeats)
    times: dict[str, list[float]] = {"plain": [], "group1": [], "group4": []}
    with tempfile.TemporaryDirectory(prefix="bench_groups_") as tmp:
        path = Path(tmp) / "config.yaml"
        path.write_text(yaml.safe_dump(config(timesteps), sort_keys=False))
        for r in range(repeats):
            base = ["--config", str(path)]
            times["plain"].append(timed([*base, "--run-dir", f"{tmp}/plain{r}"]))
            times["group1"].append(timed([*base, "--seeds", "0", "--jobs", "1",
                                          "--run-dir", f"{tmp}/group1-{r}"]))
            times["group4"].append(timed([*base, "--seeds", "0-3", "--jobs", "2",
                                          "--run-dir", f"{tmp}/group4-{r}"]))
    plain, group1, group4 = (statistics.median(times[k]) for k in ("plain", "group1", "group4"))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"{timesteps:,} timesteps per seed, PPO on CartPole-v1, median of {repeats} round(s); "
          f"{cores} cores, load average {load}\n")
    print("| command | wall time (s) | vs one seed |")
    print("| --- | ---: | ---: |")
    print(f"| one seed: `train.py --config C` | {plain:.1f} | 1.00x |")
    print(f"| group of one seed: `--seeds 0 --jobs 1` | {group1:.1f} | {group1 / plain:.2f}x |")
    print(f"| 4 seeds: `--seeds 0-3 --jobs 2` | {group4:.1f} | **{group4 / plain:.2f}x** "
          f"(target <= {TARGET}x) |")
    print(f"\ngroup machinery: {group1 - plain:+.1f} s per group of one seed "
          f"({(group1 - plain) / plain:+.0%} of the run); 4 seeds on 2 jobs: "
          f"{group4 / 4:.1f} s per seed")


if __name__ == "__main__":
    main()
