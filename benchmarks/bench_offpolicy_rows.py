"""SAC over ATC aircraft rows: hlynr's SAC with the row replay buffer against SB3's SAC through SuperSuit.

Both learners train one shared SAC policy on ``hlynr/ATC-v0`` with the env and hyperparameters of
``configs/atc/sac_shared.yaml`` (canonical crossing, 4 aircraft, observations normalised by
``VecNormalize``, MLP [256, 256], batch 1024, gamma 0.995, tau 0.01, learned entropy
coefficient, one torch thread), on the same number of env copies:

* **reference**: ``stable_baselines3.SAC`` on the SuperSuit path (``env: {type: pettingzoo}``:
  ``concat_vec_envs_v1`` behind hlynr's adapter, one process), SB3's ``ReplayBuffer`` storing
  every row, one gradient step per env step;
* **hlynr**: ``hlynr.algos.offpolicy.SAC`` on the batched engine (``vectoriser: batched``),
  whose ``RowReplayBuffer`` stores only the rows of live aircraft; one gradient step per env
  step, or ``--updates-per-row U`` gradient steps per stored transition.

After a warm-up that is not timed (``learning_starts`` rows of random actions and a first
update), both run ``learn()`` interleaved chunk by chunk, so load from other processes hits both
alike. It prints aircraft-steps/s (aircraft rows advanced per second of wall time, collection
and updates together) of each, hlynr's figure over the reference's, the share of rows each
buffer stored and the gradient steps each ran.

    python benchmarks/bench_offpolicy_rows.py                 # 4 copies x 4 aircraft, about a minute
    python benchmarks/bench_offpolicy_rows.py --copies 16 --updates-per-row 0.0625 --timed 8000
"""

from __future__ import annotations

import argparse
import os
from typing import Any

import stable_baselines3
import torch as th
from bench_offpolicy import interleaved_learn, load
from stable_baselines3.common.logger import configure
from stable_baselines3.common.vec_env import VecNormalize

import hlynr  # noqa: F401  (registers the built-in envs)
from hlynr.algos.offpolicy import SAC
from hlynr.algos.offpolicy.row_buffer import RowReplayBuffer
from hlynr.multiagent import build_pettingzoo_vec_env

ENV_KWARGS = {"scenario": "canonical_crossing", "max_aircraft": 4, "k_intruders": 3}
HYPERPARAMS = {"learning_rate": 3.0e-4, "batch_size": 1024, "gamma": 0.995, "tau": 0.01,
               "train_freq": 1, "ent_coef": "auto", "buffer_size": 500_000}
LEARNERS = {"SB3 SAC, SuperSuit path": ("supersuit", stable_baselines3.SAC),
            "hlynr SAC, batched rows": ("batched", SAC)}


def make(vectoriser: str, cls: type, copies: int, arch: int, learning_starts: int,
         updates_per_row: float | None) -> Any:
    """A SAC model on ``copies`` copies of the ATC env through ``vectoriser``."""
    venv = build_pettingzoo_vec_env("hlynr/ATC-v0", ENV_KWARGS, copies, 0, 0, vectoriser)
    venv = VecNormalize(venv, norm_obs=True, norm_reward=False, gamma=HYPERPARAMS["gamma"])
    steps = ({"updates_per_row": updates_per_row} if updates_per_row and cls is SAC
             else {"gradient_steps": 1})
    model = cls("MlpPolicy", venv, learning_starts=learning_starts, seed=0, device="cpu",
                policy_kwargs={"net_arch": [arch, arch]}, **HYPERPARAMS, **steps)
    model.set_logger(configure(None, []))
    return model


def stored_rows(model: Any) -> int:
    """Transitions the model's replay buffer stored (every row for SB3's buffer)."""
    buffer = model.replay_buffer
    if isinstance(buffer, RowReplayBuffer):
        return buffer.stored
    return (buffer.buffer_size if buffer.full else buffer.pos) * buffer.n_envs


def measure(copies: int, arch: int, warmup: int, timed: int, chunk: int,
            updates_per_row: float | None) -> dict[str, dict[str, float]]:
    """Aircraft-steps/s of each learner's ``learn()``, interleaved chunk by chunk."""
    rows_per_step = copies * ENV_KWARGS["max_aircraft"]
    models, starts = [], []
    for vectoriser, cls in LEARNERS.values():
        model = make(vectoriser, cls, copies, arch, warmup, updates_per_row)
        model.learn(warmup + rows_per_step)  # random exploration and a first update: not timed
        models.append(model)
        starts.append((model.num_timesteps, model._n_updates))
    seconds = interleaved_learn(models, timed, chunk)
    out = {}
    for name, model, (timesteps, updates), wall in zip(LEARNERS, models, starts, seconds, strict=True):
        out[name] = {"rate": (model.num_timesteps - timesteps) / wall,
                     "stored": stored_rows(model) / model.num_timesteps,
                     "updates": model._n_updates - updates}
        model.get_env().close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=4, help="env copies (4 aircraft rows each)")
    parser.add_argument("--arch", type=int, default=256, help="hidden layer size (two layers)")
    parser.add_argument("--warmup", type=int, default=1024, help="learning_starts: untimed random rows")
    parser.add_argument("--timed", type=int, default=1600, help="timed aircraft rows per learner")
    parser.add_argument("--chunk", type=int, default=160, help="rows per interleaved learn() call")
    parser.add_argument("--updates-per-row", type=float, default=None,
                        help="hlynr's learner: gradient steps per stored transition (default: one per env step)")
    args = parser.parse_args()
    th.set_num_threads(1)
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               "unknown CPU") if os.path.exists("/proc/cpuinfo") else "unknown CPU"
    print(f"torch {th.__version__}, SB3 {stable_baselines3.__version__}, 1 torch thread, {cpu}")
    steps = (f"updates_per_row {args.updates_per_row:g} (hlynr)" if args.updates_per_row
             else "1 gradient step per env step")
    print(f"ATC canonical crossing, {args.copies} copies x 4 aircraft, MLP [{args.arch}, {args.arch}], "
          f"batch {HYPERPARAMS['batch_size']}, {steps}; {args.timed} timed rows per learner")
    print(f"load before: {load()}")
    result = measure(args.copies, args.arch, args.warmup, args.timed, args.chunk, args.updates_per_row)
    print(f"{'learner':<26} {'aircraft-steps/s':>16} {'rows stored':>11} {'gradient steps':>14}")
    for name, r in result.items():
        print(f"{name:<26} {r['rate']:>16.0f} {r['stored']:>10.0%} {r['updates']:>14.0f}")
    sb3, ours = result.values()
    print(f"hlynr / SB3: {ours['rate'] / sb3['rate']:.2f}x aircraft-steps/s")
    print(f"load after: {load()}")


if __name__ == "__main__":
    main()
