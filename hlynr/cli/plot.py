"""``hlynr plot``: learning curves of run groups across training seeds.

    hlynr plot GROUP [GROUP ...] --metric eval/success_rate --out curves.png
    hlynr plot GROUP ... --x wall_time --iqm --out curves.svg    # IQM against training time
    hlynr plot GROUP ... --x both --out curves.png               # timesteps and wall time
    hlynr plot GROUP ... --table                                  # markdown table of final values

One line per group: the mean (``--iqm``: the interquartile mean) over its seeds, with a 95 %
bootstrap band over seeds, after each seed's records are interpolated onto a common grid.
``--table`` prints each group's final value (each seed's last record of the metric): IQM
[95 % stratified-bootstrap interval], mean, and the number of seeds.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from hlynr.cli.common import CliError, err_console, make_console

console = make_console()
FORMATS = (".png", ".svg", ".pdf")
X_LABELS = {"timesteps": "timesteps", "wall_time": "wall-clock time (s)"}


def build_parser() -> argparse.ArgumentParser:
    """The ``hlynr plot`` argument parser."""
    p = argparse.ArgumentParser(prog="hlynr plot", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("groups", nargs="+", metavar="GROUP", help="run group folders (or grids)")
    p.add_argument("--metric", default="eval/success_rate",
                   help="eval/KEY, eval/info/KEY, eval/STAGE/KEY or rollout/KEY "
                        "(default: eval/success_rate)")
    p.add_argument("--x", default="timesteps", choices=("timesteps", "wall_time", "both"),
                   help="x axis: timesteps, wall_time (seconds of training) or both (two panels)")
    p.add_argument("--out", metavar="FILE", help="write the figure (.png, .svg or .pdf)")
    p.add_argument("--iqm", action="store_true", help="interquartile mean instead of the mean")
    p.add_argument("--table", action="store_true",
                   help="print a markdown table of each group's final value: IQM [95%% CI]")
    p.add_argument("--points", type=int, default=200, help="grid points per curve at most")
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``hlynr plot``."""
    args = build_parser().parse_args(argv)
    if not args.out and not args.table:
        raise CliError("give --out FILE.png (or .svg, .pdf) for the figure, --table for the "
                       "markdown table, or both")
    if args.out and Path(args.out).suffix.lower() not in FORMATS:
        raise CliError(f"--out {args.out}: the figure is written as {', '.join(FORMATS)}")
    if args.points < 2:
        raise CliError("--points must be at least 2")
    # Reading groups loads SB3 (the run layout's modules): after the arguments are read.
    from hlynr.evaluation.groups import GroupEvaluationError, expand_groups, group_labels
    from hlynr.monitoring.curves import CurveError, field_of, seed_curves

    try:
        field_of(args.metric)
        groups = expand_groups(args.groups)
    except (GroupEvaluationError, CurveError) as exc:
        raise CliError(str(exc)) from None
    labels = group_labels(groups)
    xs = ["timesteps", "wall_time"] if args.x == "both" else [args.x]
    statistic = "iqm" if args.iqm else "mean"
    seeds = [seed_curves(g) for g in groups]
    for label, group_seeds in zip(labels, seeds):
        for s in group_seeds:
            if s.left_out:
                err_console.print(f"{label} seed {s.seed}: left out: {s.left_out}", markup=False)
    curves = {x: _curves(labels, seeds, args.metric, x, statistic, args.points) for x in xs}
    if args.out:
        draw(labels, curves, args.metric, statistic, Path(args.out))
        console.print(f"wrote {args.out}")
    if args.table:
        console.print(markdown_table(labels, curves[xs[0]], args.metric, xs[0]), markup=False,
                      soft_wrap=True)
    return 0


def _curves(labels: list[str], seeds: list[Any], metric: str, x: str, statistic: str,
            n_points: int) -> list[Any]:
    from hlynr.monitoring.curves import CurveError, available_metrics, group_curve

    out = []
    for label, group_seeds in zip(labels, seeds):
        try:
            out.append(group_curve(group_seeds, metric, x, statistic=statistic, n_points=n_points))
        except CurveError as exc:
            raise CliError(f"{label}: {exc}") from None
    if not any(c.seeds for c in out):
        found = sorted({m for group_seeds in seeds for s in group_seeds if s.left_out is None
                        for m in available_metrics(s.records)})
        raise CliError(f"no seed of the groups has {metric} against {x}; the records have: "
                       f"{', '.join(found) or 'no metric yet'}")
    for label, curve, group_seeds in zip(labels, out, seeds):
        missing = [s.seed for s in group_seeds if s.left_out is None and s.seed not in curve.seeds]
        if missing:
            err_console.print(f"{label}: seeds {missing} have no {metric} yet: left out",
                              markup=False)
    return out


def draw(labels: list[str], curves: dict[str, list[Any]], metric: str, statistic: str,
         path: Path) -> None:
    """One panel per x axis (``curves``: x name -> each group's curve), one line per group
    (gid ``curve-<i>`` in an SVG) with its 95 % band (gid ``band-<i>``)."""
    from matplotlib.figure import Figure  # deferred: matplotlib takes a while to import

    name = "IQM" if statistic == "iqm" else "mean"
    fig = Figure(figsize=(6.4 * len(curves), 4.2), layout="constrained")
    axes = fig.subplots(1, len(curves), squeeze=False)[0]
    for ax, (x, group_curves) in zip(axes, curves.items()):
        for i, (label, curve) in enumerate(zip(labels, group_curves)):
            if not len(curve.grid):
                continue
            colour = f"C{i % 10}"
            n = len(curve.seeds)
            (line,) = ax.plot(curve.grid, curve.band["value"], color=colour, linewidth=1.8,
                              label=f"{label} ({n} seed{'s' if n != 1 else ''})")
            line.set_gid(f"curve-{i}")
            fill = ax.fill_between(curve.grid, curve.band["ci_low"], curve.band["ci_high"],
                                   color=colour, alpha=0.2, linewidth=0)
            fill.set_gid(f"band-{i}")
        ax.set_xlabel(X_LABELS[x])
        ax.set_ylabel(f"{metric} ({name})")
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize="small")
    fig.suptitle(f"{metric}: {name} over training seeds, 95% bootstrap band", fontsize="medium")
    fig.savefig(path, dpi=150)


def markdown_table(labels: list[str], curves: list[Any], metric: str, x: str = "timesteps") -> str:
    """Each group's final value of ``metric`` (each seed's last record): IQM [95 % CI], mean,
    number of seeds and the timesteps (or seconds) of the final records."""
    from hlynr.monitoring.curves import final_summary

    lines = [f"| group | {metric}, final: IQM [95 % CI] | mean | seeds | at {x} |",
             "|---|---|---|---|---|"]
    for label, curve in zip(labels, curves):
        s = final_summary(curve)
        if not s["n"]:
            lines.append(f"| {label} | - | - | 0 | - |")
            continue
        iqm, mean = s["iqm"], s["mean"]
        lo, hi = min(curve.final_x), max(curve.final_x)
        at = f"{lo:,.0f}" if lo == hi else f"{lo:,.0f} to {hi:,.0f}"
        lines.append(f"| {label} | {_num(iqm['value'])} [{_num(iqm['ci_low'])}, "
                     f"{_num(iqm['ci_high'])}] | {_num(mean['value'])} | {s['n']} | {at} |")
    return "\n".join(lines)


def _num(x: float) -> str:
    return f"{x:#.3g}".rstrip(".") if abs(x) < 1000 else f"{x:,.0f}"
