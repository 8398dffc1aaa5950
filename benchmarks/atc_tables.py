#!/usr/bin/env python
"""Markdown tables of ``hlynr/ATC-v0`` results from ``evaluate.py --json`` files.

``python benchmarks/atc_tables.py scores FILE.json [...] [--name SUBSTRING=NAME ...]`` prints one
row per scenario and policy: success (no LoS and every aircraft at its exit, 95 % Wilson
interval), LoS events per episode (mean, 95 % t interval), conflict-free episodes (Wilson),
exits reached, path efficiency, extra NM per aircraft, minimum separation; then, per scenario,
each policy paired with ``baseline:mvp`` of the same file on the same seeds (mvp's success
minus the policy's, Newcombe interval, discordant episodes, exact McNemar p).

``python benchmarks/atc_tables.py cross FILE.json [...] --policy NAME=SCENARIO [...]`` prints
the cross-scenario table: for each policy, LoS events per episode and conflict-free rate on
every scenario, and the ratio of its LoS rate there to its LoS rate on ``SCENARIO`` (the one
it was trained on).

Rows are read from ``evaluate.py ... --stage all --json FILE`` (labels ``POLICY @stage i``;
stage ``i`` is named from ``--stages``, by default the order in which the ATC configs'
curricula list them) or from single-stage files (``--set env.kwargs.scenario=S``; give the
scenario with ``FILE.json:S``). Policies are labelled ``STEM: LABEL`` (``STEM``: the file name
without ``.json``), baselines by their own label (one row per scenario when several files score
them on the same seeds); ``--name`` renames policies whose label contains SUBSTRING;
``--only NAME`` (repeatable) keeps those policies and the baselines.
"""

from __future__ import annotations

import argparse
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hlynr.evaluation.stats import mean_interval, paired_difference, wilson_interval

SCENARIOS = ("head_on", "parallel", "t_formation", "canonical_crossing", "converging", "random")
MVP = "baseline:mvp"


@dataclass
class Row:
    """One policy on one scenario: its per-episode records."""

    policy: str
    scenario: str
    episodes: list[dict]

    def values(self, key: str) -> np.ndarray:
        """Per-episode values of ``key`` in seed order."""
        return np.array([e[key] for e in sorted(self.episodes, key=lambda e: e["seed"])], dtype=float)


def load(specs: list[str], stages: list[str], names: dict[str, str]) -> list[Row]:
    """Rows of every ``FILE.json`` or ``FILE.json:SCENARIO`` in ``specs``."""
    rows = []
    for spec in specs:
        path, _, fixed = spec.partition(".json:")
        path = path if path.endswith(".json") else path + ".json"
        data = json.load(open(path))
        for result in data["results"]:
            m = re.fullmatch(r"(.*) @stage (\d+)", result["label"])
            label, scenario = (m.group(1), stages[int(m.group(2))]) if m else (result["label"], fixed)
            if not scenario:
                raise SystemExit(f"error: {path}: single-stage rows need FILE.json:SCENARIO")
            if not label.startswith("baseline:"):
                label = f"{Path(path).stem}: {label}"  # the same checkpoint name in several files
            for sub, new in names.items():
                if sub in label:
                    label = new
            if any(r.policy == label and r.scenario == scenario for r in rows):
                continue  # a baseline scored in several files on the same seeds
            rows.append(Row(label, scenario, result["episodes"]))
    order = {s: i for i, s in enumerate(stages)}
    first = {p: i for i, p in reversed(list(enumerate(r.policy for r in rows)))}
    baselines = {MVP: -2, "baseline:direct": -1}
    return sorted(rows, key=lambda r: (order.get(r.scenario, len(order)),
                                       baselines.get(r.policy, first[r.policy])))


def _rate(x: np.ndarray) -> str:
    lo, hi = wilson_interval(int(x.sum()), len(x))
    return f"{x.mean():.1%} [{lo:.1%}, {hi:.1%}]"


def _mean(x: np.ndarray, digits: int = 3) -> str:
    lo, hi = mean_interval(x)
    lo = max(lo, 0.0) if x.min() >= 0 else lo  # counts: the interval stops at 0
    return f"{x.mean():.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def scores_table(rows: list[Row]) -> None:
    """Print the per-scenario table and the paired comparisons with mvp."""
    print("| scenario | policy | success [95 % CI] | LoS events / episode [95 % CI] | conflict-free "
          "[95 % CI] | exits reached | path efficiency | extra NM / aircraft | min separation NM |")
    print("|---|---|---|---|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r.scenario} | {r.policy} | {_rate(r.values('is_success'))} | {_mean(r.values('los_events'))} "
              f"| {_rate(r.values('conflict_free'))} | {r.values('exits_reached').mean():.1%} "
              f"| {r.values('path_efficiency').mean():.3f} "
              f"| {round(r.values('extra_distance_nm').mean(), 1) + 0.0:.1f} "
              f"| {r.values('min_separation_nm').mean():.2f} |")
    print("\n| scenario | policy | mvp minus policy, success [95 % CI] | only mvp / only policy | McNemar p |")
    print("|---|---|---|---:|---:|")
    for r in rows:
        mvp = [m for m in rows if m.policy == MVP and m.scenario == r.scenario]
        if r.policy == MVP or not mvp or len(mvp[0].episodes) != len(r.episodes):
            continue
        d = paired_difference(mvp[0].values("is_success") > 0.5, r.values("is_success") > 0.5)
        print(f"| {r.scenario} | {r.policy} | {d['difference']:+.1%} [{d['ci_low']:+.1%}, {d['ci_high']:+.1%}] "
              f"| {d['only_first']} / {d['only_second']} | {d['mcnemar_p']:.2g} |")


def cross_table(rows: list[Row], policies: dict[str, str], stages: list[str]) -> None:
    """Print LoS rate per scenario and its ratio to the in-scenario rate, per policy."""
    print("| policy | trained on | scenario | LoS events / episode [95 % CI] | conflict-free [95 % CI] "
          "| LoS ratio to in-scenario |")
    print("|---|---|---|---|---|---:|")
    for name, home in policies.items():
        mine = {r.scenario: r for r in rows if r.policy == name}
        if home not in mine:
            raise SystemExit(f"error: no rows of '{name}' on its training scenario '{home}'")
        base = mine[home].values("los_events").mean()
        for scen in (s for s in stages if s in mine):
            los = mine[scen].values("los_events")
            if base > 0:
                ratio = f"{los.mean() / base:.2f}"
            else:  # no LoS in-scenario: a ratio only when there is none here either
                ratio = "1.00" if los.mean() == 0 else "unbounded (0 in-scenario)"
            tag = " (in-scenario)" if scen == home else ""
            print(f"| {name} | {home} | {scen}{tag} | {_mean(los)} | {_rate(mine[scen].values('conflict_free'))} "
                  f"| {ratio} |")


def _pairs(items: list[str], what: str) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"error: {what} needs KEY=VALUE, got {item!r}")
        out[key] = value
    return out


def main() -> None:
    """Print the table asked for."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["scores", "cross"])
    ap.add_argument("files", nargs="+", help="evaluate.py --json files (FILE.json[:SCENARIO])")
    ap.add_argument("--name", action="append", default=[], help="SUBSTRING=NAME: rename policies")
    ap.add_argument("--policy", action="append", default=[], help="cross: NAME=TRAINING_SCENARIO")
    ap.add_argument("--stages", default=",".join(SCENARIOS), help="names of stages 0, 1, ...")
    ap.add_argument("--only", action="append", default=[], help="scores: these policies (and the baselines)")
    args = ap.parse_args()
    stages = args.stages.split(",")
    rows = load(args.files, stages, _pairs(args.name, "--name"))
    if args.only:
        rows = [r for r in rows if r.policy in args.only or r.policy.startswith("baseline:")]
    if args.what == "scores":
        scores_table(rows)
    else:
        cross_table(rows, _pairs(args.policy, "--policy"), stages)


if __name__ == "__main__":
    main()
