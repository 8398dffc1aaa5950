"""``evaluate.py GROUP [GROUP ...]``: every training seed's model on the same episodes, and the
result across seeds (mean and IQM with 95 % intervals, probability of improvement, holds in k of
n seeds). The statistics are :mod:`hlynr.evaluation.groups`; this module reads the arguments
:mod:`hlynr.cli.evaluate` parsed, prints the tables and writes the JSON."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from rich.table import Table

from hlynr.cli.common import CliError, err_console, make_console, stage_selector
from hlynr.cli.evaluate import parse_baseline
from hlynr.evaluation.episodes import EvaluationSummary
from hlynr.evaluation.groups import (
    ALPHA,
    GroupEvaluationError,
    GroupResult,
    aggregate,
    check_one_env,
    compare,
    compare_info,
    env_kwargs_differ,
    expand_groups,
    group_labels,
    resolve_seeds,
    score_seeds,
    seed_score,
    uses_success,
)
from hlynr.evaluation.scoring import ScoreSettings, score_baseline
from hlynr.runs.group import is_grid, is_group

console = make_console()


def names_groups(args: argparse.Namespace) -> bool:
    """Whether the command line names a run group (or grid): then it is a group evaluation."""
    return any(is_group(Path(t)) or is_grid(Path(t)) for t in args.targets)


def _refuse_single_run_options(args: argparse.Namespace) -> None:
    for given, option in ((args.config, "--config"), (args.attention, "--attention"),
                          (args.below, "--below"), (args.stage == "all", "--stage all"),
                          (args.which == "all", "--which all")):
        if given:
            raise CliError(f"{option} is for single runs; with groups, name the groups "
                           "(each seed's run folder holds its config) and one model per seed "
                           "(--which best, final, ...)")


def evaluate_groups(args: argparse.Namespace) -> int:
    """Entry point for group targets (``args`` from ``evaluate.py``'s parser)."""
    _refuse_single_run_options(args)
    if args.episodes < 1 or args.n_envs < 1:
        raise CliError("--episodes and --n-envs must be at least 1")
    ref_paths = [b for b in args.baseline if is_group(Path(b)) or is_grid(Path(b))]
    scripted = [b for b in args.baseline if b not in ref_paths]
    try:
        groups = expand_groups(args.targets)
        ref_groups = expand_groups(ref_paths)
        check_one_env(groups + ref_groups)
    except GroupEvaluationError as exc:
        raise CliError(str(exc)) from None
    if args.paired and not scripted and not ref_groups and len(groups) < 2:
        raise CliError("--paired compares with a reference: name a --baseline or a second group")
    baselines = [parse_baseline(text) for text in scripted]
    labels = group_labels(groups + ref_groups)
    results = [resolve_seeds(g, label, args.which, tuple(args.overrides))
               for g, label in zip(groups + ref_groups, labels)]
    if not any(s.target is not None for r in results for s in r.seeds):
        _print_left_out(results)
        raise CliError("no seed of the groups named has a model to score")
    stage = stage_selector(args.stage)
    settings = ScoreSettings(args.episodes, args.seed, not args.stochastic, args.n_envs, stage)
    differ = env_kwargs_differ(results, stage)
    for r in results:
        score_seeds(r, settings)
    config = next(s.target.config for r in results for s in r.seeds if s.target is not None)
    scored_baselines = [(f"baseline:{text}", score_baseline(name, config, settings, params))
                        for text, (name, params) in zip(scripted, baselines)]
    summaries = [s.summary for r in results for s in r.scored if s.summary is not None]
    summaries += [summary for _, summary in scored_baselines]
    success = uses_success(summaries)
    for r in results:
        scores = [seed_score(s.summary, success) for s in r.scored if s.summary is not None]
        r.aggregate = aggregate(scores) if scores else {"n": 0}
    n_refs = len(ref_groups)
    references: list[tuple[str, list[EvaluationSummary]]] = [(label, [s])
                                                          for label, s in scored_baselines]
    references += [(r.label, [s.summary for s in r.scored if s.summary is not None])
                   for r in results[len(groups):]]
    if not references and len(groups) > 1:  # no reference named: the first group is it
        references = [(results[0].label, [s.summary for s in results[0].scored
                                          if s.summary is not None])]
    compared = results[:len(groups)] if n_refs or scripted else results[1:]
    comparisons = {r.label: [compare(r, label, ref, success) for label, ref in references
                             if label != r.label] for r in compared}
    metric = "success_rate" if success else "mean_reward"
    try:
        info_comparisons = {r.label: [compare_info(r, references[0][0], references[0][1], key)
                                      for key in args.paired]
                            for r in compared if references and references[0][0] != r.label}
    except ValueError as exc:
        raise CliError(f"--paired: {exc}") from None
    _print(results, scored_baselines, comparisons, settings, metric, differ)
    _print_info_comparisons(info_comparisons)
    if args.json_path:
        out = {"settings": {**vars(settings)}, "metric": metric,
               "groups": [_group_json(r, comparisons.get(r.label, []), info_comparisons.get(r.label, []))
                          for r in results],
               "baselines": [{"label": label, "metrics": s.metrics(),
                              "episodes": _episodes(s)} for label, s in scored_baselines]}
        Path(args.json_path).write_text(json.dumps(out, indent=2, default=float))
        console.print(f"wrote {args.json_path}")
    return 0


def _episodes(summary: EvaluationSummary) -> list[dict[str, Any]]:
    return [{"seed": e.seed, "reward": e.reward, "length": e.length, "success": e.success}
            for e in summary.episodes]


def _group_json(r: GroupResult, comparisons: list[dict[str, Any]],
                info_comparisons: list[dict[str, Any]]) -> dict[str, Any]:
    g = r.group
    return {"label": r.label, "path": str(g.path), "name": g.name, "env_id": g.env_id,
            "algo": g.algo, "cell": g.cell, "aggregate": r.aggregate, "comparisons": comparisons,
            "paired_info": info_comparisons,
            "seeds": [{"seed": s.seed, "run": str(s.run_dir), "scored": s.scored,
                       "left_out": s.reason,
                       "model": str(s.target.model_path) if s.target is not None else None,
                       **({"metrics": s.summary.metrics(), "info": s.summary.info_stats(),
                           "episodes": _episodes(s.summary)} if s.summary is not None else {})}
                      for s in r.seeds]}


def _ci(d: dict[str, float], pct: bool) -> str:
    f = (lambda x: f"{x:.1%}") if pct else (lambda x: f"{x:.4g}")
    return f"{f(d['value'])} [{f(d['ci_low'])}, {f(d['ci_high'])}]"


def _print(results: list[GroupResult], baselines: list[tuple[str, EvaluationSummary]],
           comparisons: dict[str, list[dict[str, Any]]], settings: ScoreSettings, metric: str,
           differ: list[str]) -> None:
    pct = metric == "success_rate"
    title = (f"{settings.episodes} episodes, seeds {settings.seed}.."
             f"{settings.seed + settings.episodes - 1}, "
             f"{'deterministic' if settings.deterministic else 'stochastic'}")
    table = Table(title=f"every training seed: {title}")
    firsts = {label: cs[0] for label, cs in comparisons.items() if cs and cs[0].get("n")}
    columns = ["group", "seed", "success [95% CI]", "reward mean ± std", "length"]
    if firsts:
        columns.append("paired vs reference: difference, p (✓ holds, ✗ the other way)")
    for col in columns:
        table.add_column(col, justify="left" if col == "group" else "right")
    for r in results:
        by_seed = {c["seed"]: c for c in firsts[r.label]["per_seed"]} if r.label in firsts else {}
        for s in r.scored:
            assert s.summary is not None
            cells = [r.label, str(s.seed), *_metric_cells(s.summary)]
            if firsts:
                c = by_seed.get(s.seed)
                cells.append(_paired_cell(c, firsts[r.label]["reference"], pct) if c else "")
            table.add_row(*cells)
    for label, summary in baselines:
        table.add_row(label, "-", *_metric_cells(summary), *([""] if firsts else []))
    console.print(table)
    _print_left_out(results)
    if differ:
        console.print(f"note: the seeds of {', '.join(differ)} are evaluated on other env "
                      f"parameters than those of {results[0].label} (each seed on its own "
                      "config's env)", markup=False)
    table = Table(title=f"across training seeds: {metric} per seed, 95% stratified-bootstrap "
                        "intervals")
    for col in ("group", "seeds", "mean [95% CI]", "IQM [95% CI]"):
        table.add_column(col, justify="left" if col == "group" else "right")
    for r in results:
        agg = r.aggregate
        if not agg.get("n"):
            table.add_row(r.label, f"0 of {len(r.seeds)}", "-", "-")
            continue
        table.add_row(r.label, f"{agg['n']} of {len(r.seeds)}", _ci(agg["mean"], pct),
                      _ci(agg["iqm"], pct))
    console.print(table)
    rows = [(label, c) for label, cs in comparisons.items() for c in cs if c.get("n")]
    if rows:
        table = Table(title=f"against a reference: probability of improvement, and the seeds a "
                            f"paired comparison on the same episodes finds significant "
                            f"(p < {ALPHA:g}) in the claimed direction")
        for col in ("group", "vs", "P(improvement) [95% CI]", "claim", "holds in"):
            table.add_column(col, justify="left" if col in ("group", "vs", "claim") else "right")
        for label, c in rows:
            claim = {1: "better", -1: "worse", 0: "no difference"}[c["direction"]]
            held = f"{c['holds']} of {c['n']} seeds" if c["direction"] else "-"
            if c["opposite"]:
                held += f" ({c['opposite']} significant the other way)"
            poi = c["probability_of_improvement"]
            table.add_row(label, c["reference"], f"{poi['value']:.2f} [{poi['ci_low']:.2f}, "
                          f"{poi['ci_high']:.2f}]",
                          claim, held)
        console.print(table)


def _print_info_comparisons(info_comparisons: dict[str, list[dict[str, Any]]]) -> None:
    rows = [(label, c) for label, cs in info_comparisons.items() for c in cs if c["n"]]
    if not rows:
        return
    table = Table(title=f"paired final-step info on the same episodes: the seed's model minus the reference's, "
                        f"mean difference [95% CI], t-test p; seeds significantly (p < {ALPHA:g}) lower / higher")
    for col in ("group", "vs", "key", "per seed", "lower in", "higher in"):
        table.add_column(col, justify="right" if col.endswith(" in") else "left")
    for label, c in rows:
        seeds = "; ".join(f"{d['seed']}: {d['difference']:+.4g} [{d['ci_low']:+.4g}, {d['ci_high']:+.4g}], "
                          f"p={d['t_test_p']:.2g}" for d in c["per_seed"])
        table.add_row(label, c["reference"], c["key"], seeds, f"{c['lower']} of {c['n']}",
                      f"{c['higher']} of {c['n']}")
    console.print(table)


def _metric_cells(summary: EvaluationSummary) -> list[str]:
    m = summary.metrics()
    success = (f"{m['success_rate']:.1%} [{m['success_ci_low']:.1%}, {m['success_ci_high']:.1%}]"
               if "success_rate" in m else "n/a")
    return [success, f"{m['mean_reward']:.2f} ± {m['std_reward']:.2f}", f"{m['mean_length']:.1f}"]


def _paired_cell(c: dict[str, Any], reference: str, pct: bool) -> str:
    p = c.get("mcnemar_p", c.get("sign_test_p"))
    mark = " ✓" if c["holds"] else (" ✗" if c["opposite"] else "")
    if "ci_low" in c:
        f = (lambda x: f"{x:+.1%}") if pct else (lambda x: f"{x:+.4g}")
        text = f"{f(c['difference'])} [{f(c['ci_low'])}, {f(c['ci_high'])}]"
    else:
        text = f"{c['difference']:+.4g}"
    return f"{text} vs {reference}, p={p:.2g}{mark}"


def _print_left_out(results: list[GroupResult]) -> None:
    for r in results:
        for s in r.left_out:
            err_console.print(f"{r.label} seed {s.seed}: left out of the aggregate: {s.reason}",
                              markup=False)
