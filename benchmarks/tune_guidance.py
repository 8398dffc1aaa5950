"""Tune the radar-fed guidance baselines of hlynr/Intercept-v0 per scenario, on tuning seeds.

    python benchmarks/tune_guidance.py                          # manoeuvring, seeds 0-999, all laws
    python benchmarks/tune_guidance.py --scenario standard
    python benchmarks/tune_guidance.py --laws pn,ogl -n 500     # some laws, fewer episodes
    python benchmarks/tune_guidance.py --held-out 10000         # then score the choices on 10000-10999

Each law is tuned by a staged grid: every stage scores the Cartesian product of its values (the
other settings at the best found so far) and keeps the best point; a two-key stage is printed as
a table (success in %, the chosen cell marked with ``*``). Settings are the baseline's parameters
(``N``, ``tau``, ``target_tau``, validated by the baseline's own model) and the track's
(``filter``; ``Q``: ``sensor.process_noise`` in m/s^2; ``imm``: an IMM track's models, whose
unset noises take ``Q``). Every point is scored on the same episodes, seeds ``--seed`` ..
``--seed + n - 1`` (default 0-999): one batched env of ``n`` copies, the first episode of each,
so episode ``k`` is exactly the episode ``evaluate.py --seed k`` scores. The criterion is the
success rate (closest approach under the kill radius); of equal rates the first in grid order
(grids list the simpler setting first) is kept.

``--held-out SEED`` then scores every chosen point on seeds ``SEED`` .. ``SEED + n - 1`` (keep
them apart from the tuning seeds) and prints success [95 % Wilson interval], median miss,
P(miss < 2 kill radii) and the paired difference to the first law (``pn``) on the same episodes
with its 95 % interval, the discordant counts and the exact McNemar p-value (the numbers
``evaluate.py`` prints for rows scored together). ``--chosen FILE`` takes the choices from an
earlier run's ``--json`` instead of tuning again. Where a law's grid tried IMM tracks and its
choice is not one, its best IMM point is scored as well (``law@imm``).
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

import hlynr.guidance  # noqa: F401  (registers the baselines)
from hlynr.envs.intercept import BatchedInterceptVecEnv
from hlynr.envs.intercept.params import scenario_params
from hlynr.evaluation.episodes import run_episodes
from hlynr.evaluation.stats import paired_difference, wilson_interval
from hlynr.registries import BASELINES

Point = dict[str, Any]

SENSOR_KEYS = ("filter", "Q", "imm")
"""Settings that belong to the track (``env.kwargs.sensor``), not to the law."""



def imm(*models: tuple[str, float | None, float]) -> dict[str, Any]:
    """An ``env.kwargs.sensor.imm`` value: ``(kind, noise, sojourn)`` per model (noise ``None``:
    the point's ``Q``)."""
    return {"models": [{"kind": k, "noise": q, "sojourn": s} for k, q, s in models]}


IMM_MANOEUVRING = [None, imm(("cv", 10.0, 1.0), ("ca", None, 3.0)), imm(("ca", 30.0, 2.0), ("ca", None, 0.5)),
                   imm(("ca", 50.0, 2.0), ("ca", None, 1.0))]
"""IMM tracks tried on ``manoeuvring`` (``None``: the single CA filter)."""

# Per scenario and law: (starting point, stages); a stage maps each setting to its grid values.
GRIDS: dict[str, dict[str, tuple[Point, list[dict[str, Sequence[Any]]]]]] = {
    "manoeuvring": {
        "pn": ({"N": 6.0, "filter": "ca", "Q": 100.0, "imm": None}, [
            {"N": [4.0, 5.0, 6.0, 7.0, 8.0], "Q": [40.0, 70.0, 100.0, 150.0, 200.0]},
            {"imm": IMM_MANOEUVRING, "Q": [100.0, 200.0, 400.0]},
        ]),
        "apn": ({"N": 3.0, "Q": 100.0}, [
            {"N": [1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0], "Q": [40.0, 70.0, 100.0, 150.0, 200.0]},
        ]),
        "ogl": ({"N": 3.0, "tau": 0.1, "target_tau": None, "Q": 100.0, "imm": None}, [
            {"N": [3.0, 4.0, 5.0, 6.0], "target_tau": [None, 1.0, 0.5, 0.35, 0.2]},
            {"tau": [0.0, 0.1, 0.2, 0.3], "Q": [40.0, 70.0, 100.0, 150.0, 200.0]},
            {"N": [3.0, 4.0, 5.0, 6.0], "target_tau": [0.5, 0.35, 0.25, 0.2, 0.15]},
            {"imm": IMM_MANOEUVRING, "Q": [100.0, 200.0, 400.0]},
        ]),
    },
    "standard": {
        "pn": ({"N": 4.0, "filter": "cv", "Q": 10.0}, [
            {"N": [3.0, 4.0, 5.0, 6.0], "filter": ["cv", "ca"]},
            {"N": [3.0, 4.0, 5.0, 6.0], "Q": [3.0, 10.0, 20.0, 40.0]},
        ]),
        "apn": ({"N": 3.0, "Q": 10.0}, [
            {"N": [3.0, 4.0, 5.0], "Q": [3.0, 10.0, 20.0, 40.0]},
        ]),
        "ogl": ({"N": 3.0, "tau": 0.1, "target_tau": None, "Q": 10.0}, [
            {"N": [3.0, 4.0, 5.0], "target_tau": [None, 1.0, 0.5, 0.25]},
            {"tau": [0.0, 0.1, 0.2], "Q": [3.0, 10.0, 20.0, 40.0]},
        ]),
    },
}


def sensor_of(law: str, point: Point) -> dict[str, Any]:
    """The ``env.kwargs.sensor`` a point is scored with: the baseline's own overrides (its
    filter), then the point's track settings."""
    sensor = dict(BASELINES.get(law).env_overrides.get("sensor", {}))
    if "filter" in point:
        sensor["filter"] = point["filter"]
    if "Q" in point:
        sensor["process_noise"] = point["Q"]
    if point.get("imm") is not None:
        sensor["filter"] = "imm"
        sensor["imm"] = point["imm"]
    return sensor


def law_params(point: Point) -> dict[str, Any]:
    """The baseline parameters of a point (its track settings removed)."""
    return {k: v for k, v in point.items() if k not in SENSOR_KEYS}


def score(law: str, point: Point, scenario: str, seed: int, n: int, n_envs: int) -> dict[str, Any]:
    """Success, P(miss < 2 kill radii) and median miss of ``law`` at ``point`` on seeds
    ``seed .. seed + n - 1``, and the per-episode successes."""
    venv = BatchedInterceptVecEnv(n_envs, scenario=scenario, sensor=sensor_of(law, point))
    try:
        policy = BASELINES.get(law).policy(venv.observation_space, venv.action_space, law_params(point))
        summary = run_episodes(policy, venv, n, seed)
    finally:
        venv.close()
    kill = scenario_params(scenario).kill_radius
    miss = np.array([r.info["miss_distance"] for r in summary.episodes])
    success = np.array([bool(r.success) for r in summary.episodes])
    return {"success": float(success.mean()), "p2r": float(np.mean(miss < 2 * kill)),
            "median_miss": float(np.median(miss)), "successes": success.tolist()}


def fmt(value: Any) -> str:
    """A grid value as printed (``-`` for unset)."""
    if isinstance(value, dict):  # an IMM: kind noise/sojourn per model
        return "+".join(f"{m['kind']}{fmt(m['noise'])}/{fmt(m['sojourn'])}" for m in value["models"])
    return "-" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def tune(law: str, scenario: str, seed: int, n: int, n_envs: int,
         cache: dict[str, dict[str, Any]]) -> tuple[Point, dict[str, Any]]:
    """Run the staged grid of ``law`` on ``scenario``; print each stage; the best point and its score."""
    start, stages = GRIDS[scenario][law]
    best = dict(start)

    def run(point: Point) -> dict[str, Any]:
        key = json.dumps([law, point], sort_keys=True)
        if key not in cache:
            cache[key] = score(law, point, scenario, seed, n, n_envs)
        return cache[key]

    for i, stage in enumerate(stages):
        keys = list(stage)
        t0 = time.perf_counter()
        results = {}  # index of each setting's value -> score
        for ix in itertools.product(*(range(len(stage[k])) for k in keys)):
            results[ix] = run({**best, **{k: stage[k][j] for k, j in zip(keys, ix, strict=True)}})
        chosen = max(results, key=lambda ix: results[ix]["success"])  # ties: the first in grid order
        best = {**best, **{k: stage[k][j] for k, j in zip(keys, chosen, strict=True)}}
        fixed = ", ".join(f"{k}={fmt(v)}" for k, v in best.items() if k not in keys)
        print(f"\n{law} stage {i + 1}: success % over {' x '.join(keys)} ({fixed}; "
              f"{time.perf_counter() - t0:.0f} s)")
        if len(keys) == 2:
            rows, cols = stage[keys[0]], stage[keys[1]]
            width = max(19, *(len(fmt(r)) + 2 for r in rows))
            corner = f"{keys[0]} / {keys[1]}"
            print(f"{corner:>{width + 2}}" + "".join(f"{fmt(c):>9}" for c in cols))
            for a, r in enumerate(rows):
                cells = "".join(f"{100 * results[(a, b)]['success']:8.1f}{'*' if (a, b) == chosen else ' '}"
                                for b in range(len(cols)))
                print(f"  {fmt(r):>{width}}" + cells)
        else:
            for ix, res in results.items():
                mark = "*" if ix == chosen else " "
                print(f"  {mark} {', '.join(f'{k}={fmt(stage[k][j])}' for k, j in zip(keys, ix, strict=True))}: "
                      f"{100 * res['success']:.1f} %")
    return best, run(best)


def baseline_arg(law: str, point: Point) -> str:
    """The ``evaluate.py --baseline`` argument of a point and, in brackets, its sensor."""
    params = ",".join(f"{k}={fmt(v)}" for k, v in law_params(point).items() if v is not None)
    sensor = " ".join(f"{k}={fmt(v)}" for k, v in sensor_of(law, point).items())
    return f"{law}{':' + params if params else ''} [{sensor}]"


def held_out(chosen: dict[str, Point], scenario: str, seed: int, n: int, n_envs: int) -> None:
    """Score the chosen points on seeds ``seed .. seed + n - 1``; print the table, paired with
    the first law."""
    kill = scenario_params(scenario).kill_radius
    print(f"\nheld-out: {scenario}, seeds {seed}-{seed + n - 1}; paired with {next(iter(chosen))} "
          "on the same episodes")
    print(f"  {'baseline':<56} {'success [95 % CI]':>22} {'median':>8} {f'<{2 * kill:g} m':>7}   paired [95 % CI]"
          "  (only this / only ref, McNemar p)")
    ref: list[bool] | None = None
    for key, point in chosen.items():
        law = key.split("@")[0]
        res = score(law, point, scenario, seed, n, n_envs)
        succ = res["successes"]
        lo, hi = wilson_interval(sum(succ), n)
        line = (f"  {baseline_arg(law, point):<56} {100 * res['success']:5.1f} % [{100 * lo:.1f}, {100 * hi:.1f}]"
                f" {res['median_miss']:6.2f} m {100 * res['p2r']:5.1f} %")
        if ref is None:
            ref = succ
        else:
            d = paired_difference(succ, ref)
            line += (f"   {100 * d['difference']:+.1f} % [{100 * d['ci_low']:+.1f}, {100 * d['ci_high']:+.1f}]"
                     f"  ({d['only_first']} / {d['only_second']}, p = {d['mcnemar_p']:.2g})")
        print(line)


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenario", default="manoeuvring", choices=sorted(GRIDS))
    ap.add_argument("--laws", default=None, help="comma-separated laws (default: all of the scenario's)")
    ap.add_argument("--seed", type=int, default=0, help="first tuning seed (default 0)")
    ap.add_argument("-n", "--episodes", type=int, default=1000, help="episodes per point (default 1000)")
    ap.add_argument("--n-envs", type=int, default=None, help="env copies per batch (default: all episodes)")
    ap.add_argument("--json", default=None, help="write every scored point and the choices here")
    ap.add_argument("--chosen", default=None, help="take the choices from this --json file (no tuning)")
    ap.add_argument("--held-out", type=int, default=None, metavar="SEED",
                    help="score the choices on seeds SEED .. SEED + n - 1")
    args = ap.parse_args(argv)
    laws = args.laws.split(",") if args.laws else list(GRIDS[args.scenario])
    n_envs = args.n_envs or args.episodes
    if args.chosen:
        with open(args.chosen) as f:
            saved = json.load(f)
        chosen = {k: p for k, p in saved["chosen"].items() if k.split("@")[0] in laws}
    else:
        print(f"tuning on {args.scenario}, seeds {args.seed}-{args.seed + args.episodes - 1}")
        cache: dict[str, dict[str, Any]] = {}
        tuned = {law: tune(law, args.scenario, args.seed, args.episodes, n_envs, cache) for law in laws}
        print("\nchosen (success, P(miss < 2 kill radii), median miss on the tuning seeds):")
        for law, (point, res) in tuned.items():
            print(f"  {baseline_arg(law, point):<60} {100 * res['success']:5.1f} %  "
                  f"{100 * res['p2r']:5.1f} %  {res['median_miss']:.2f} m")
        chosen = {law: point for law, (point, _) in tuned.items()}
        for law in laws:  # the best IMM-track point too, where the grid tried IMM tracks
            imm_points = [(res["success"], i, json.loads(key)[1]) for i, (key, res) in enumerate(cache.items())
                          if json.loads(key)[0] == law and json.loads(key)[1].get("imm") is not None]
            if imm_points and chosen[law].get("imm") is None:
                best = max(imm_points, key=lambda t: (t[0], -t[1]))  # ties: the first scored
                print(f"  {law} on its best IMM track: {baseline_arg(law, best[2])}  {100 * best[0]:.1f} %")
                chosen[f"{law}@imm"] = best[2]
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"scenario": args.scenario, "seed": args.seed, "episodes": args.episodes,
                           "chosen": chosen,
                           "points": {k: {kk: vv for kk, vv in v.items() if kk != "successes"}
                                      for k, v in cache.items()}}, f, indent=1)
    if args.held_out is not None:
        held_out(chosen, args.scenario, args.held_out, args.episodes, n_envs)


if __name__ == "__main__":
    main()
