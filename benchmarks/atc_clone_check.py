#!/usr/bin/env python
"""Where a clone of ``mvp`` disagrees with it: its own data set split by MVP's state.

``python benchmarks/atc_clone_check.py RUN [--samples N]`` reads ``RUN/pretrain/`` (the clone,
its normalisation statistics and ``dataset.npz``) of a run with ``pretrain: {teacher: {name:
mvp}}`` and prints, for each DAgger round's samples (at most ``N`` drawn per round):

* how far the stored labels are from ``mvp`` recomputed on the stored observations (0 when the
  observation row holds everything MVP uses);
* for all samples, for those where MVP detects a conflict (it resolves), and for the rest
  (it flies to the exit or holds): their share, the action agreement of the clone's
  deterministic action (every axis within 0.1, 10 % of the half-range, as the pretraining log
  counts it) and the mean absolute error per axis (heading, speed).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from gymnasium import spaces
from stable_baselines3 import PPO

import hlynr  # noqa: F401  (registers the built-in envs and baselines)
from hlynr.imitation.dataset import Dataset
from hlynr.imitation.pretrain import DATASET_FILE, PRETRAIN_DIR
from hlynr.registries import BASELINES
from hlynr.runs.artifacts import MODEL_FILE


def _normaliser(folder: Path):  # type: ignore[no-untyped-def]
    import pickle

    with (folder / "vecnormalize.pkl").open("rb") as fh:
        return pickle.load(fh)


def check(run: Path, samples: int) -> None:
    """Print the table for ``run``."""
    folder = run / PRETRAIN_DIR
    data = Dataset.load(folder / DATASET_FILE)
    model = PPO.load(folder / MODEL_FILE, device="cpu")
    norm = _normaliser(folder) if (folder / "vecnormalize.pkl").is_file() else None
    print("| round (student share) | labels vs mvp on the stored obs | rows | share | agreement "
          "| MAE heading | MAE speed |")
    print("|---|---:|---|---:|---:|---:|---:|")
    rng = np.random.default_rng(0)
    for i, r in enumerate(data.rounds):
        obs, labels = r.obs[r.mask], r.actions[r.mask]
        pick = rng.choice(len(obs), min(len(obs), samples), replace=False)
        obs, labels = obs[pick], labels[pick]
        mvp = BASELINES.get("mvp").policy(spaces.Box(-10, 10, (obs.shape[1],)), spaces.Box(-1, 1, (2,)), None)
        _, _, conflict = mvp.resolution(obs)
        gap = float(np.abs(mvp.act(obs) - labels).max())
        student, _ = model.predict(norm.normalize_obs(obs) if norm is not None else obs, deterministic=True)
        err = np.abs(np.clip(student, -1, 1) - labels)
        agree = (err <= 0.1).all(axis=1)
        for name, rows in (("all", np.ones(len(obs), bool)), ("mvp resolving a conflict", conflict),
                           ("mvp not in conflict", ~conflict)):
            if not rows.any():
                continue
            print(f"| {i} ({r.student_prob:.0%}) | {gap:.1e} | {name} | {rows.mean():.1%} | {agree[rows].mean():.1%} "
                  f"| {err[rows, 0].mean():.3f} | {err[rows, 1].mean():.3f} |")


def main() -> None:
    """Parse the arguments and print the table."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path, help="run folder with pretrain/ from the mvp teacher")
    ap.add_argument("--samples", type=int, default=60000, help="samples drawn per round")
    args = ap.parse_args()
    if not (args.run / PRETRAIN_DIR / DATASET_FILE).is_file():
        raise SystemExit(f"error: {args.run} has no {PRETRAIN_DIR}/{DATASET_FILE}")
    check(args.run, args.samples)


if __name__ == "__main__":
    main()
