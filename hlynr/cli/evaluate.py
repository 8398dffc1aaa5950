"""``python evaluate.py``: score checkpoints and baselines on the same seeded episodes.

    python evaluate.py runs/pendulum_ppo/20261121-221500                 # its best model
    python evaluate.py RUN --which all --episodes 200 --json scores.json # rank every checkpoint
    python evaluate.py RUN --baseline pn --baseline pure_pursuit          # next to baselines
    python evaluate.py --config configs/intercept/ppo_standard.yaml --baseline pn  # baselines only
    python evaluate.py GROUP [GROUP ...] --baseline pn -n 200   # every seed, and across seeds
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from rich.table import Table

from hlynr.cli.common import CliError, entry, err_console, make_console, stage_selector
from hlynr.config.loader import ConfigError, format_validation_error, parse_yaml
from hlynr.config.stages import StageSelector
from hlynr.evaluation.stats import paired_difference
from hlynr.registries import BASELINES, UnknownNameError
from hlynr.zoo import load_config

if TYPE_CHECKING:
    from hlynr.evaluation.episodes import EvaluationSummary

console = make_console()


def build_parser() -> argparse.ArgumentParser:
    """The evaluate.py argument parser."""
    p = argparse.ArgumentParser(prog="evaluate.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("targets", nargs="*", metavar="TARGET",
                   help="run folder, saved-model folder or model .zip (several are ranked), "
                        "or run groups (every training seed's model, aggregated across seeds)")
    p.add_argument("--which", default="best",
                   help="for run folders: best, final, latest, pretrain, a checkpoint name, or all")
    p.add_argument("--config", help="config for a bare model file, or for baselines alone")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key for evaluation (e.g. env.kwargs.scenario=sensor)")
    p.add_argument("--baseline", action="append", default=[], metavar="NAME[:KEY=VALUE,...]",
                   help="also score a scripted baseline on the same episodes (repeatable), "
                        "optionally with parameters, e.g. pn:N=6")
    p.add_argument("--episodes", "-n", type=int, default=100)
    p.add_argument("--seed", type=int, default=0, help="episode k uses seed SEED + k")
    p.add_argument("--n-envs", type=int, default=8, help="envs stepped in parallel")
    p.add_argument("--stochastic", action="store_true", help="sample actions (default: deterministic)")
    p.add_argument("--stage", default="final",
                   help="curriculum stage to evaluate at: final (default), none, an index, "
                        "or all (one row per stage)")
    p.add_argument("--below", action="append", default=[], metavar="KEY=R1,R2,...",
                   help="also report P(KEY < R) with 95%% intervals, e.g. miss_distance=5,10,20")
    p.add_argument("--paired", action="append", default=[], metavar="KEY",
                   help="also compare the final-info KEY with the first --baseline (or the rank-1 "
                        "policy) on the same episodes: mean difference, 95%% interval, paired "
                        "t-test (repeatable), e.g. --paired los_events --paired path_efficiency")
    p.add_argument("--json", dest="json_path", metavar="FILE", help="write all results as JSON")
    p.add_argument("--attention", metavar="FILE",
                   help="write the actor's attention weights per step (JSON lines; one model)")
    p.add_argument("--trajectories", metavar="FILE",
                   help="write every step of every row and episode (states, observations, actions, "
                        "rewards, flags) to FILE (.npz; see docs/rendering.md)")
    return p


def parse_baseline(text: str) -> tuple[str, dict[str, Any]]:
    """``NAME[:KEY=VALUE,...]`` -> (name, validated parameters); CliError naming the problem."""
    name, _, rest = text.partition(":")
    try:
        entry = BASELINES.get(name)
    except UnknownNameError as exc:
        raise CliError(f"--baseline {text!r}: {exc}") from None
    params: dict[str, Any] = {}
    for item in filter(None, rest.split(",")):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CliError(f"--baseline {text!r}: expected NAME:KEY=VALUE,..., got {item!r}")
        try:
            params[key.strip()] = parse_yaml(value, f"--baseline {text!r}: {key.strip()}")[0]
        except ConfigError as exc:
            raise CliError(str(exc)) from None
    try:
        entry.params.model_validate(params)
    except ValidationError as exc:
        raise CliError(format_validation_error(exc, params, f"--baseline {text}",
                                               what="parameters in")) from None
    return name, params


def _parse_below(items: list[str]) -> list[tuple[str, float]]:
    out = []
    for item in items:
        key, _, values = item.partition("=")
        try:
            out += [(key, float(v)) for v in values.split(",")]
        except ValueError:
            raise CliError(f"--below {item!r}: expected KEY=R1,R2,... with numbers") from None
        if not key or not values:
            raise CliError(f"--below {item!r}: expected KEY=R1,R2,...")
    return out


def _row(label: str, summary: Any, below: list[tuple[str, float]]) -> dict[str, Any]:
    return {"label": label, "metrics": summary.metrics(), "info": summary.info_stats(),
            "info_success": summary.info_stats(success_only=True),
            "below": [summary.fraction_below(key, r) for key, r in below],
            "counts": summary.text_counts(),
            "episodes": [{"seed": e.seed, "reward": e.reward, "length": e.length,
                          "success": e.success, **e.info} for e in summary.episodes]}


def _add_paired(ranked: list[dict[str, Any]]) -> None:
    """Give every row below the first its paired success difference to the first (same seeds)."""
    if len(ranked) < 2 or "success_rate" not in ranked[0]["metrics"]:
        return
    top = ranked[0]["episodes"]
    for row in ranked[1:]:
        eps = row["episodes"]
        if [e["seed"] for e in eps] != [e["seed"] for e in top] or any(e["success"] is None for e in eps):
            continue
        row["paired_vs_first"] = {"first": ranked[0]["label"], **paired_difference(
            [bool(e["success"]) for e in top], [bool(e["success"]) for e in eps])}


def _add_paired_info(ranked: list[tuple[dict[str, Any], EvaluationSummary]], keys: list[str],
                     reference: str | None) -> None:
    """Give every row but the reference the paired difference of each info ``key`` to it: the
    row labelled ``reference`` (the first baseline) or, without one, the rank-1 row."""
    if not keys or len(ranked) < 2:
        return
    ref_row, ref = next(((r, s) for r, s in ranked if r["label"] == reference), ranked[0])
    for row, summary in ranked:
        if row is ref_row:
            continue
        try:
            row["paired_info"] = {"reference": ref_row["label"],
                                  "keys": {k: summary.paired_info(ref, k) for k in keys}}
        except ValueError as exc:
            raise CliError(f"--paired: {row['label']} against {ref_row['label']}: {exc}") from None


def _rank_key(row: dict[str, Any]) -> tuple[float, float]:
    m = row["metrics"]
    return (m.get("success_rate", float("-inf")), m["mean_reward"])


def _print(rows: list[dict[str, Any]], settings: Any) -> None:
    table = Table(title=f"{settings.episodes} episodes, seeds {settings.seed}.."
                        f"{settings.seed + settings.episodes - 1}, "
                        f"{'deterministic' if settings.deterministic else 'stochastic'}")
    for col in ("rank", "policy", "success [95% CI]", "reward mean ± std", "length"):
        table.add_column(col, justify="right" if col != "policy" else "left")
    for i, row in enumerate(rows, 1):
        m = row["metrics"]
        success = (f"{m['success_rate']:.1%} [{m['success_ci_low']:.1%}, {m['success_ci_high']:.1%}]"
                   if "success_rate" in m else "n/a")
        table.add_row(str(i), row["label"], success,
                      f"{m['mean_reward']:.2f} ± {m['std_reward']:.2f}", f"{m['mean_length']:.1f}")
    console.print(table)
    paired = [r for r in rows if "paired_vs_first" in r]
    if paired:
        table = Table(title="paired on the same seeds: success of the rank-1 policy minus this one")
        for col in ("policy", "vs", "difference [95% CI]", "only rank 1 / only this", "McNemar p"):
            table.add_column(col, justify="left" if col in ("policy", "vs") else "right")
        for row in paired:
            d = row["paired_vs_first"]
            table.add_row(row["label"], d["first"], f"{d['difference']:+.1%} [{d['ci_low']:+.1%}, "
                          f"{d['ci_high']:+.1%}]", f"{d['only_first']} / {d['only_second']}",
                          f"{d['mcnemar_p']:.2g}")
        console.print(table)
    _print_paired_info(rows)
    _print_info(rows, "info", "final-step info: mean / median / p95")
    _print_info(rows, "info_success", "successful episodes only: mean / median / p95")
    if rows and rows[0]["below"]:
        table = Table(title="P(value < R) [95% CI]")
        table.add_column("policy")
        for b in rows[0]["below"]:
            table.add_column(f"{b['key']} < {b['threshold']:g}", justify="right")
        for row in rows:
            table.add_row(row["label"], *(f"{b['fraction']:.1%} [{b['ci_low']:.1%}, {b['ci_high']:.1%}]"
                                          if b["n"] else "-" for b in row["below"]))
        console.print(table)
    for row in rows:
        for key, counts in row["counts"].items():
            text = ", ".join(f"{v}: {n}" for v, n in sorted(counts.items(), key=lambda x: -x[1]))
            console.print(f"{row['label']} {key}: {text}")


def _print_paired_info(rows: list[dict[str, Any]]) -> None:
    paired = [r for r in rows if "paired_info" in r]
    if not paired:
        return
    table = Table(title="paired on the same seeds: final-step info of this policy minus the reference's, "
                        "mean difference [95% CI], paired t-test p")
    table.add_column("policy")
    table.add_column("vs")
    keys = list(paired[0]["paired_info"]["keys"])
    for k in keys:
        table.add_column(k, justify="right")
    for row in paired:
        d = row["paired_info"]
        table.add_row(row["label"], d["reference"], *(
            f"{c['difference']:+.4g} [{c['ci_low']:+.4g}, {c['ci_high']:+.4g}], p={c['t_test_p']:.2g}"
            for c in (d["keys"][k] for k in keys)))
    console.print(table)


def _print_info(rows: list[dict[str, Any]], field: str, title: str) -> None:
    keys = sorted({k for r in rows for k in r[field]} - {"is_success"})
    if not keys:
        return
    table = Table(title=title)
    table.add_column("policy")
    for k in keys:
        table.add_column(k, justify="right")
    for row in rows:
        cells = []
        for k in keys:
            s = row[field].get(k, {})
            cells.append(f"{s['mean']:.4g} / {s['median']:.4g} / {s['p95']:.4g}"
                         if s.get("n") else "-")
        table.add_row(row["label"], *cells)
    console.print(table)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``evaluate.py``."""
    args = build_parser().parse_args(argv)
    # Loading models imports SB3 and torch: after the arguments are read, not for --help.
    from hlynr.cli.evaluate_groups import evaluate_groups, names_groups
    from hlynr.evaluation.scoring import LoadError, ScoreSettings, score_baseline, score_model
    from hlynr.evaluation.targets import resolve_targets

    if names_groups(args):  # run groups: every seed's model, and the result across seeds
        return evaluate_groups(args)
    if not args.targets and not (args.config and args.baseline):
        raise CliError("give a TARGET (run folder or model), or --config with --baseline")
    if args.episodes < 1 or args.n_envs < 1:
        raise CliError("--episodes and --n-envs must be at least 1")
    targets = [t for target in args.targets
               for t in resolve_targets(target, args.which, args.config, tuple(args.overrides))]
    config = targets[0].config if targets else load_config(args.config, args.overrides).config
    if args.stage == "all":
        curriculum = config.callback("curriculum")
        if curriculum is None:
            raise CliError("--stage all: the config has no curriculum")
        stages: list[StageSelector] = list(range(len(curriculum.stages)))
    else:
        stages = [stage_selector(args.stage)]
    _check_overrides_reach_the_env(config, args.overrides, stages)
    if args.attention and len(targets) != 1:
        raise CliError("--attention writes the weights of one model: name exactly one")
    below = _parse_below(args.below)
    baselines = [parse_baseline(text) for text in args.baseline]
    labels = [t.label for t in targets]
    collect = _trajectory_collector(args.trajectories, config, targets)
    record = collect.recorder if collect is not None else None
    rows: list[dict[str, Any]] = []
    for stage in stages:
        stage_rows: list[tuple[dict[str, Any], EvaluationSummary]] = []
        settings = ScoreSettings(args.episodes, args.seed, not args.stochastic, args.n_envs, stage)
        suffix = f" @stage {stage}" if len(stages) > 1 else ""
        for t in targets:
            label = (t.label if labels.count(t.label) == 1
                     else f"{t.model_path.parent.parent.name}/{t.label}")
            try:
                summary = score_model(t, settings, Path(args.attention) if args.attention else None,
                                      record=record)
            except LoadError as exc:
                if len(targets) == 1:
                    raise
                err_console.print(f"skipped {label}: {exc}", markup=False)
                continue
            stage_rows.append((_row(label + suffix, summary, below), summary))
            if collect is not None:
                collect.add(label + suffix, {"kind": "model", "model": str(t.model_path), "stage": stage})
        for text, (name, params) in zip(args.baseline, baselines):
            scored = score_baseline(name, config, settings, params, record=record)
            stage_rows.append((_row(f"baseline:{text}{suffix}", scored, below), scored))
            if collect is not None:
                collect.add(f"baseline:{text}{suffix}", {"kind": "baseline", "name": name,
                                                         "params": params, "stage": stage})
        ranked = sorted(stage_rows, key=lambda pair: _rank_key(pair[0]), reverse=True)  # within each stage
        _add_paired([r for r, _ in ranked])
        _add_paired_info(ranked, args.paired, f"baseline:{args.baseline[0]}{suffix}" if args.baseline else None)
        rows += [r for r, _ in ranked]
    if not rows:
        raise CliError("no model could be scored (every one named above is damaged)")
    _print(rows, settings)
    if args.json_path:
        out = {"settings": {**vars(settings), "stage": stages if len(stages) > 1 else stages[0]},
               "results": rows}
        Path(args.json_path).write_text(json.dumps(out, indent=2, default=float))
        console.print(f"wrote {args.json_path}")
    if collect is not None:
        collect.trajectories(seed=args.seed, episodes=args.episodes, deterministic=not args.stochastic,
                             success_key=config.env.success_key, env_kwargs=dict(config.env.kwargs),
                             stages=stages).save(args.trajectories)
        console.print(f"wrote {args.trajectories}")
    return 0


def _trajectory_collector(path: str | None, config: Any, targets: list[Any]) -> Any:
    """The collector of ``--trajectories FILE`` (None without it); the file's folder must be
    writable and every row of one env."""
    if path is None:
        return None
    from hlynr.evaluation.recording import TrajectoryCollector

    folder = Path(path).resolve().parent
    if not folder.is_dir() or not os.access(folder, os.W_OK):
        raise CliError(f"--trajectories {path}: {folder} is not a writable folder")
    envs = {config.env.id} | {t.config.env.id for t in targets}
    if len(envs) > 1:
        raise CliError(f"--trajectories records one env; the targets are of {', '.join(sorted(envs))}")
    return TrajectoryCollector(config.env.id)


def _check_overrides_reach_the_env(config: Any, overrides: list[str], stages: list[StageSelector]) -> None:
    """Refuse a ``--set env.kwargs.K=V`` that an evaluated curriculum stage would replace (the
    episodes would run at the stage's K, not at V)."""
    curriculum = config.callback("curriculum")
    if curriculum is None:
        return
    n = len(curriculum.stages)
    picked = [n - 1 if s == "final" else s for s in stages if s != "none"]
    staged = {k for i in picked if isinstance(i, int) and 0 <= i < n  # others: refused later
              for k in curriculum.stages[i]}
    for item in overrides:
        key = item.split("=", 1)[0].strip().split(".")
        if key[:2] == ["env", "kwargs"] and len(key) > 2 and key[2] in staged:
            raise CliError(f"--set {item}: the curriculum stage evaluated sets '{key[2]}', so this "
                           "value would not be used; choose the stage with --stage (an index, "
                           "all, or none for the config's own env.kwargs)")


if __name__ == "__main__":
    entry(main)
