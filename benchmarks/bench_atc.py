#!/usr/bin/env python
"""Speed of ``hlynr/ATC-v0`` (the batched engine next to the SuperSuit path) and its baselines.

``python benchmarks/bench_atc.py speed [--seconds S]`` prints, for 4, 64 and 256 copies of 8 aircraft
and of 20 aircraft (random sector traffic, random actions), aircraft-steps/s of

* ``engine``: :class:`hlynr.envs.atc.ATCEngine` stepping every copy as one set of arrays
  (finished copies reset in place),
* ``batched VecEnv``: the engine behind hlynr's VecEnv of aircraft rows (``vectoriser:
  batched``, what training steps), and
* ``supersuit``: the same env as PettingZoo copies through the parameter-sharing path
  (``env: {type: pettingzoo}``: SuperSuit ``concat_vec_envs_v1`` behind hlynr's adapter, one
  process), the reference,

and the ratios engine / supersuit and batched VecEnv / supersuit. An aircraft-step is one aircraft row
advanced by one step.

``python benchmarks/bench_atc.py train [--rollouts N]`` prints end-to-end training speed in
aircraft-steps/s (6 aircraft of random sector traffic, 5 intruder slots, MLP [64, 64], 5 epochs,
minibatches of 3072 rows, torch threads 1): shared PPO through the SuperSuit path (8 copies x
256 steps per rollout, as ``configs/atc/ppo_shared.yaml``), the reference, next to shared PPO and
MAPPO on the batched engine (``vectoriser: batched``, 64 copies x 32 steps: the same 12,288 rows
per rollout), with the ratio to the reference and the share of time spent collecting rollouts
(env + policy inference) and in the learner's update.

``python benchmarks/bench_atc.py baselines [--episodes N]`` scores ``direct`` and ``mvp`` on
every scenario on the same seeded episodes (episode k: seed k), all episodes of a scenario as
copies of one batched engine: LoS events per episode (mean, 95 % t interval), conflict-free
episode rate (95 % Wilson interval), path efficiency and extra distance.

``python benchmarks/bench_atc.py los-causes [--baseline mvp:margin=1.15 ...] [--episodes N]
[--seed S]`` plays random traffic (6 aircraft, episodes seeded ``S .. S+N-1``) with each
baseline and sorts its losses of separation (entries into the protected zone seen at the end of
a step) by the step before: at least one of the two aircraft had a predicted conflict
(``in_conflict``: mvp was resolving it), or neither had one and at least one was manoeuvring
(``resuming``: turning back onto its route or changing speed), or neither. It also prints the
warning time: from the pair's first predicted conflict in the episode to the loss of separation.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from rows_timing import env_rate, train_rate

import hlynr  # noqa: F401  (registers the built-in envs and baselines)
from hlynr.cli.common import CliError
from hlynr.cli.evaluate import parse_baseline
from hlynr.envs.atc import ATCEngine, ATCParams
from hlynr.evaluation.stats import mean_interval, wilson_interval
from hlynr.multiagent import build_pettingzoo_vec_env
from hlynr.registries import BASELINES


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


def bench_supersuit(n: int, copies: int, seconds: float, vectoriser: str = "supersuit") -> float:
    """Aircraft-steps/s of the PettingZoo env through a parameter-sharing VecEnv."""
    venv = build_pettingzoo_vec_env("hlynr/ATC-v0", _kwargs(n), copies, 0, 0, vectoriser)
    rate = env_rate(venv, seconds)
    venv.close()
    return rate


TRAIN_KW = {"scenario": "random", "max_aircraft": 6, "n_aircraft": 6, "k_intruders": 5}


def train_rates(vectoriser: str, copies: int, n_steps: int, algo: str, rollouts: int) -> tuple[float, float]:
    """(aircraft-steps/s, fraction of the time collecting rollouts) of ``algo`` end to end."""
    venv = build_pettingzoo_vec_env("hlynr/ATC-v0", TRAIN_KW, copies, 0, 0, vectoriser)
    out = train_rate(venv, algo, rollouts, n_steps, 3072)
    venv.close()
    return out


def train_table(rollouts: int) -> None:
    """Print end-to-end PPO/MAPPO speed, batched engine vs the SuperSuit path."""
    torch.set_num_threads(1)
    print("random traffic, 6 aircraft, k_intruders 5; MLP [64, 64], 5 epochs, batch 3072; torch threads 1")
    print(f"{'end to end':36s} {'a-steps/s':>10s} {'vs SuperSuit':>13s} {'collecting':>11s} {'learner':>8s}")
    ref, frac = train_rates("supersuit", 8, 256, "PPO", rollouts)
    print(f"{'shared PPO, SuperSuit, 8 copies':36s} {ref:10,.0f} {1.0:13.2f} {frac:11.0%} {1 - frac:8.0%}",
          flush=True)
    for algo in ("PPO", "MAPPO"):
        rate, frac = train_rates("batched", 64, 32, algo, rollouts)
        name = f"{'shared PPO' if algo == 'PPO' else 'MAPPO'}, batched, 64 copies"
        print(f"{name:36s} {rate:10,.0f} {rate / ref:13.2f} {frac:11.0%} {1 - frac:8.0%}", flush=True)


SCENARIOS = ("head_on", "parallel", "t_formation", "canonical_crossing", "converging", "random")


def score(scenario: str, baseline: str, episodes: int) -> dict[str, float]:
    """Play ``episodes`` seeded episodes of ``scenario`` with ``baseline`` in one batched engine."""
    p = ATCParams(scenario=scenario, max_aircraft=6, n_aircraft=6, k_intruders=5)
    eng = ATCEngine(p, n_copies=episodes)
    obs = eng.reset(list(range(episodes)))
    from gymnasium import spaces

    pol = BASELINES.get(baseline).policy(spaces.Box(-10, 10, (eng.obs_size,)), spaces.Box(-1, 1, (2,)))
    ends: list[dict] = [{} for _ in range(episodes)]
    while not eng.done.all():
        act = pol.act(obs.reshape(-1, eng.obs_size)).reshape(episodes, p.max_aircraft, 2)
        obs, _, _, _, infos = eng.step(act)
        for c, info in enumerate(infos):
            if info:
                ends[c] = info
    los = np.array([e["los_events"] for e in ends])
    free = int(sum(e["conflict_free"] for e in ends))
    lo, hi = wilson_interval(free, episodes)
    los_lo, los_hi = mean_interval(los)
    return {"los": los.mean(), "los_lo": los_lo, "los_hi": los_hi, "free": free / episodes, "free_lo": lo,
            "free_hi": hi, "eff": float(np.mean([e["path_efficiency"] for e in ends])),
            "extra": float(np.mean([e["extra_distance_nm"] for e in ends]))}


def baselines_table(episodes: int) -> None:
    """Print direct and mvp per scenario."""
    print(f"{'scenario':<19} {'policy':<7} {'LoS/episode [95% CI]':>22} {'conflict-free [95% CI]':>24}"
          f" {'path eff.':>9} {'extra NM':>8}")
    for scen in SCENARIOS:
        for name in ("direct", "mvp"):
            r = score(scen, name, episodes)
            print(f"{scen:<19} {name:<7} {r['los']:>7.2f} [{r['los_lo']:.2f}, "
                  f"{r['los_hi']:.2f}] {r['free']:>9.1%} [{r['free_lo']:.1%}, {r['free_hi']:.1%}]"
                  f" {r['eff']:>9.4f} {r['extra']:>8.2f}", flush=True)


def los_causes(spec: str, episodes: int, seed: int) -> tuple[dict[str, int], list[float]]:
    """Where ``spec``'s losses of separation on random traffic come from (module docstring): the
    count of each cause, and the warning time (s) of each entry that had a predicted conflict."""
    from gymnasium import spaces


    name, params = parse_baseline(spec)
    p = ATCParams(scenario="random", max_aircraft=6, n_aircraft=6, k_intruders=5)
    eng = ATCEngine(p, n_copies=episodes)
    obs = eng.reset(list(range(seed, seed + episodes)))
    pol = BASELINES.get(name).policy(spaces.Box(-10, 10, (eng.obs_size,)), spaces.Box(-1, 1, (2,)), params)
    m = p.max_aircraft
    first_conf = np.full((episodes, m, m), -1)
    upper = np.triu(np.ones((m, m), dtype=bool), 1)
    causes = {"in_conflict": 0, "resuming": 0, "neither": 0}
    warning = []
    step = 0
    while not eng.done.all():
        running = ~eng.done
        in_conf, in_los = eng.in_conf.copy(), eng.in_los.copy()
        first_conf[in_conf & (first_conf < 0)] = step
        act = pol.act(obs.reshape(-1, eng.obs_size)).reshape(episodes, m, 2)
        obs, _, _, _, _ = eng.step(act)
        step += 1
        entries = eng.in_los & ~in_los & upper & running[:, None, None]
        for c, i, j in zip(*np.nonzero(entries)):
            if in_conf[c, i].any() or in_conf[c, j].any():
                causes["in_conflict"] += 1
            elif np.abs(act[c, [i, j]]).max() > 0.02:
                causes["resuming"] += 1
            else:
                causes["neither"] += 1
            if first_conf[c, i, j] >= 0:
                warning.append(float(step - first_conf[c, i, j]) * p.dt_s)
    return causes, warning


def print_los_causes(spec: str, episodes: int, seed: int) -> None:
    """Print :func:`los_causes` of ``spec`` as one line."""
    causes, warning = los_causes(spec, episodes, seed)
    total = sum(causes.values())
    shares = ", ".join(f"{k} {v} ({v / max(total, 1):.0%})" for k, v in causes.items())
    q = np.percentile(warning, [10, 50, 90]) if warning else [np.nan] * 3
    print(f"{spec}: {total} LoS entries in {episodes} episodes ({total / episodes:.3f} per episode): "
          f"{shares}; warning time p10 / median / p90 {q[0]:.0f} / {q[1]:.0f} / {q[2]:.0f} s, "
          f"{total - len(warning)} without a predicted conflict before", flush=True)


def main() -> None:
    """Print the speed, training-speed, baselines or LoS-causes table."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["speed", "train", "baselines", "los-causes"], nargs="?", default="speed")
    ap.add_argument("--rollouts", type=int, default=3, help="train: timed rollouts per row")
    ap.add_argument("--seconds", type=float, default=3.0, help="speed: time per measurement")
    ap.add_argument("--episodes", type=int, default=500, help="baselines, los-causes: episodes per scenario")
    ap.add_argument("--baseline", action="append", default=None,
                    help="los-causes: a baseline as evaluate.py takes it (repeatable; default mvp:margin=1.15)")
    ap.add_argument("--seed", type=int, default=10000, help="los-causes: seed of the first episode")
    args = ap.parse_args()
    if args.what == "los-causes":
        try:
            for spec in args.baseline or ["mvp:margin=1.15"]:
                print_los_causes(spec, args.episodes, args.seed)
        except CliError as exc:
            raise SystemExit(f"error: {exc}") from None
        return
    if args.what == "baselines":
        baselines_table(args.episodes)
        return
    if args.what == "train":
        train_table(args.rollouts)
        return
    print(f"{'aircraft':>8} {'copies':>6} {'engine a-steps/s':>17} {'batched VecEnv':>15} "
          f"{'supersuit a-steps/s':>20} {'ratio':>7} {'VecEnv ratio':>12}")
    for n in (8, 20):
        for copies in (4, 64, 256):
            e = bench_engine(n, copies, args.seconds)
            b = bench_supersuit(n, copies, args.seconds, "batched")
            s = bench_supersuit(n, copies, args.seconds)
            print(f"{n:>8} {copies:>6} {e:>17,.0f} {b:>15,.0f} {s:>20,.0f} {e / s:>7.1f} {b / s:>12.1f}",
                  flush=True)


if __name__ == "__main__":
    main()
