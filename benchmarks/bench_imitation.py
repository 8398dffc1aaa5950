"""Benchmark: teacher data collection and cloning throughput, next to PPO's own on the same data.

    python benchmarks/bench_imitation.py            # about 2 minutes on 2 cores
    python benchmarks/bench_imitation.py --quick    # smaller data

On intercept ``manoeuvring`` (batched env, 64 envs, CA radar track with process noise 100,
frame stack 4, VecNormalize, one torch thread), in the same run:

* collection: env-steps/s of teacher rollouts (``pn`` N' = 6 labels every state and drives) and
  of a DAgger round (student drives half the rows), next to PPO's ``collect_rollouts`` on the
  same env (the reference: the policy acting, values and log-probabilities stored);
* cloning: samples/s of one epoch of BC over the collected data for an MLP actor (PPO, 64x64)
  and an LSTM actor (hlynr RecurrentPPO, LSTM 64), next to one epoch of the algorithm's own
  ``train()`` on a rollout of the same size (same minibatch size).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.logger import configure

import hlynr  # noqa: F401
from hlynr.algos.builder import build_model
from hlynr.config import validate_config
from hlynr.envs.factory import build_vec_env, find_tap
from hlynr.imitation.actor import ActorView
from hlynr.imitation.clone import BatchSource
from hlynr.imitation.collect import collect_round, prepare
from hlynr.imitation.dataset import Dataset
from hlynr.registries import BASELINES

N_ENVS = 64
BATCH = 1024


def _config(algo: str, n_steps: int) -> Any:
    pk: dict[str, Any] = {"net_arch": [64, 64], "activation_fn": "tanh"}
    if algo == "RecurrentPPO":
        pk["lstm_hidden_size"] = 64
    return validate_config({
        "name": "bench", "seed": 0, "total_timesteps": 10**6, "torch_threads": 1,
        "env": {"id": "hlynr/Intercept-v0", "kwargs": {"scenario": "manoeuvring"},
                "n_envs": N_ENVS, "vectoriser": "batched"},
        "wrappers": [{"radar_kalman": {"filter": "ca", "process_noise": 100.0}},
                     {"frame_stack": {"n_stack": 4}}, {"normalize": {}}],
        "algo": {"name": algo, "hyperparams": {"n_steps": n_steps, "batch_size": BATCH,
                                               "n_epochs": 1}, "policy_kwargs": pk},
    })


def _collect(model: Any, venv: Any, n_steps: int, prob: float) -> tuple[Dataset, float]:
    tap = find_tap(venv)
    teacher = BASELINES.get("pn").policy(tap.observation_space, tap.action_space, {"N": 6})
    t0 = time.perf_counter()
    r = collect_round(venv, teacher, model, n_steps, prob, np.random.default_rng(0))
    return Dataset([r]), n_steps * venv.num_envs / (time.perf_counter() - t0)


def _ppo_collect(model: Any, n_steps: int) -> float:
    _, callback = model._setup_learn(n_steps * N_ENVS, callback=None)
    callback.on_training_start(locals(), globals())
    t0 = time.perf_counter()
    model.collect_rollouts(model.env, callback, model.rollout_buffer, n_steps)
    return n_steps * N_ENVS / (time.perf_counter() - t0)


def _clone_epoch(model: Any, venv: Any, ds: Dataset) -> float:
    view = ActorView(model)
    source = BatchSource(view, ds, lambda o: prepare(venv, o))
    opt = torch.optim.Adam(view.parameters(), lr=1e-3)
    order = np.random.default_rng(0).permutation(len(source))
    t0 = time.perf_counter()
    n = 0
    for b in source.batches(order, BATCH):
        per, _, _ = view.evaluate(b.obs, b.target, "nll", 0.0, b.starts, b.n_seq)
        loss = (per * b.mask).sum() / b.mask.sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        n += int(b.mask.sum())
    return n / (time.perf_counter() - t0)


def _train_epoch(model: Any, n_steps: int) -> float:
    t0 = time.perf_counter()
    model.train()
    return n_steps * N_ENVS / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)
    n_steps = 64 if args.quick else 256
    rows: list[tuple[str, float, str, float]] = []
    for algo in ("PPO", "RecurrentPPO"):
        cfg = _config(algo, n_steps)
        venv = build_vec_env(cfg, observation_tap=True)
        model = build_model(cfg, venv)
        model.set_logger(configure(None, []))
        label = "MLP 64x64" if algo == "PPO" else "LSTM 64"
        ds, teach = _collect(model, venv, n_steps, 0.0)
        _, dagger = _collect(model, venv, n_steps, 0.5)
        ref = _ppo_collect(model, n_steps)
        rows.append((f"teacher rollouts ({label})", teach, f"{algo} collect_rollouts", ref))
        rows.append((f"DAgger round, p=0.5 ({label})", dagger, f"{algo} collect_rollouts", ref))
        clone = _clone_epoch(model, venv, ds)
        train = _train_epoch(model, n_steps)
        rows.append((f"BC epoch, nll ({label})", clone, f"{algo} train(), 1 epoch", train))
        venv.close()
    print(f"{'hlynr':<34} {'per s':>10}   {'reference':<28} {'per s':>10}  ratio")
    for name, value, ref_name, ref in rows:
        print(f"{name:<34} {value:>10,.0f}   {ref_name:<28} {ref:>10,.0f}  {value / ref:5.2f}x")
    print(f"(env-steps/s for rollouts, samples/s for epochs; {N_ENVS} envs, {n_steps} steps, "
          f"minibatch {BATCH})")


if __name__ == "__main__":
    main()
