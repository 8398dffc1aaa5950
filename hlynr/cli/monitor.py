"""``python monitor_training.py``: how is a run doing? Poll it while it trains.

    python monitor_training.py                      # newest run under runs/
    python monitor_training.py RUN --watch 10       # refresh every 10 s
    python monitor_training.py RUN --json           # one machine-readable object
    python monitor_training.py RUN --plot curves.png
    python monitor_training.py RUN --watch 10 --csv progress.csv   # append rows for `tail -f`
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

from rich.table import Table

from hlynr.cli.common import CliError, entry, make_console
from hlynr.monitoring.analysis import analyse
from hlynr.runs.progress_log import read_progress

console = make_console()


def build_parser() -> argparse.ArgumentParser:
    """The monitor_training.py argument parser."""
    p = argparse.ArgumentParser(prog="monitor_training.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", nargs="?", help="run folder (default: the newest under --runs-dir)")
    p.add_argument("--runs-dir", default="runs")
    p.add_argument("--watch", type=float, metavar="SECONDS", help="refresh every SECONDS")
    p.add_argument("--json", action="store_true", help="print one JSON object and exit")
    p.add_argument("--plot", metavar="FILE.png", help="draw reward and success curves")
    p.add_argument("--csv", metavar="FILE.csv", help="write progress as CSV (one row per rollout "
                   "record; with --watch new rows are appended)")
    p.add_argument("--stale-after", type=float, default=300.0,
                   help="seconds without new records before a run counts as not writing")
    return p


RUN_DEPTHS = (2, 3, 4)
"""Folder levels below ``--runs-dir`` at which run folders live (single runs, group seeds, grid
cells' seeds and tuning trials' seeds)."""


def newest_run(runs_dir: Path) -> Path:
    """The run folder under ``runs_dir`` whose progress log changed last: a single run
    (``<name>/<timestamp>/``), a seed of a run group (``<name>/group-*/seed_<s>/``, in a grid
    ``<name>/group-*/<cell>/seed_<s>/``) or a tuning trial's seed (``<name>/tune-*/trial-<n>/seed-<s>/``)."""
    logs = [log for depth in RUN_DEPTHS for log in runs_dir.glob("*/" * depth + "progress.jsonl")
            ] if runs_dir.is_dir() else []
    if not logs:
        raise CliError(f"no runs found under {runs_dir}/ (expected <name>/<timestamp>/progress.jsonl, "
                       "or a run group's or a tuning study's seeds below <name>/)")
    return max(logs, key=lambda p: p.stat().st_mtime).parent


def _fmt_time(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.1%}"


def _by_stage(values: dict[str, float]) -> str:
    return ", ".join(f"{name} {_pct(v)}" for name, v in values.items())


def render(status) -> Table:
    """A rich table of a run's status."""
    t = Table(title=f"{status.run_dir} [{status.state}]", show_header=False)
    t.add_column(style="bold")
    t.add_column()
    total = f"{status.total_timesteps:,}" if status.total_timesteps else "?"
    t.add_row("progress", f"{status.timesteps:,} / {total} ({_pct(status.progress)})")
    t.add_row("speed", "-" if not status.steps_per_s else f"{status.steps_per_s:,.0f} steps/s")
    t.add_row("elapsed / eta", f"{_fmt_time(status.wall_time)} / {_fmt_time(status.eta_s)}")
    ci = (f" (95% CI {status.success_ci[0]:.1%}-{status.success_ci[1]:.1%})"
          if status.success_ci else "")
    t.add_row("eval success", f"{_pct(status.success)}{ci} after {status.evaluations} evaluations")
    if status.eval_success_by_stage:
        t.add_row("eval success by stage", _by_stage(status.eval_success_by_stage))
    if status.peak_success is not None:
        t.add_row("peak success", f"{_pct(status.peak_success)} at {status.peak_timesteps:,} timesteps")
    if status.trend:
        recent = " ".join(f"{v:.0%}" for v in status.recent_success)
        t.add_row("trend", f"{status.trend} (recent: {recent})")
    if status.mean_reward is not None:
        t.add_row("eval reward", f"{status.mean_reward:.3g}")
    t.add_row("train success", _pct(status.train_success))
    if status.train_success_by_stage:
        t.add_row("train success by stage", _by_stage(status.train_success_by_stage))
    t.add_row("curriculum stage", "-" if status.stage is None else str(status.stage))
    t.add_row("entropy coef", "-" if status.ent_coef is None else f"{status.ent_coef:.3g}")
    if status.learning_rate is not None:
        t.add_row("learning rate", f"{status.learning_rate:.3g}")
    if status.end:
        t.add_row("ended", f"{status.end.get('status')}: {status.end.get('reason')}")
    for alert in status.alerts:
        t.add_row("[red]ALERT[/]", f"[red]{alert.kind}[/]: {alert.message}")
    return t


def plot(records: list[dict], path: str) -> None:
    """Training/eval reward and success over timesteps, saved as a PNG."""
    import matplotlib  # only with --plot: matplotlib takes a while to import

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    roll = [r for r in records if r.get("type") == "rollout"]
    ev = [r for r in records if r.get("type") == "eval"]
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    if roll:
        pts = [(r["timesteps"], r["ep_reward_mean"]) for r in roll if r.get("ep_reward_mean") is not None]
        if pts:
            ax1.plot(*zip(*pts), label="train (rolling)")
        pts = [(r["timesteps"], r["success_rate"]) for r in roll if r.get("success_rate") is not None]
        if pts:
            ax2.plot(*zip(*pts), label="train (rolling)")
    if ev:
        ax1.plot([r["timesteps"] for r in ev], [r.get("eval_mean_reward") for r in ev], "o-", label="eval")
        bands = [(r["timesteps"], r["eval_success_rate"], r.get("eval_success_ci_low"),
                  r.get("eval_success_ci_high")) for r in ev if r.get("eval_success_rate") is not None]
        if bands:
            t, s, lo, hi = zip(*bands)
            ax2.plot(t, s, "o-", label="eval")
            ax2.fill_between(t, lo, hi, alpha=0.2, label="eval 95% CI")
    ax1.set_ylabel("episode reward")
    ax2.set_ylabel("success rate")
    ax2.set_xlabel("timesteps")
    ax2.set_ylim(-0.02, 1.02)
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


CSV_COLUMNS: tuple[str, ...] = (
    "timesteps_total", "episode_reward_mean", "episode_reward_min", "episode_reward_max",
    "episode_len_mean", "episodes", "train_success_rate", "evaluations", "eval_success_rate",
    "eval_conflict_free", "zero_conflict_streak", "stage", "steps_per_s", "wall_time",
)
"""Columns of ``--csv``. ``timesteps_total`` counts what the run counts (agent rows for
PettingZoo envs); ``zero_conflict_streak`` is the number of consecutive evaluations so far in
which every episode was conflict-free (the env's ``conflict_free`` info, else success rate 1.0)."""


def csv_rows(records: list[dict]) -> list[dict]:
    """One CSV row per rollout record, with the evaluations logged up to its timestep."""
    rows, streak, last_eval, n_eval = [], 0, None, 0
    evals = iter([r for r in records if r.get("type") == "eval"])
    pending = next(evals, None)
    for rec in (r for r in records if r.get("type") == "rollout"):
        while pending is not None and pending["timesteps"] <= rec["timesteps"]:
            cf = (pending.get("eval_info") or {}).get("conflict_free")
            clean = cf if cf is not None else pending.get("eval_success_rate")
            streak = streak + 1 if clean is not None and clean >= 1.0 else 0
            last_eval, n_eval = pending, n_eval + 1
            pending = next(evals, None)
        ev = last_eval or {}
        rows.append({
            "timesteps_total": rec["timesteps"], "episode_reward_mean": rec.get("ep_reward_mean"),
            "episode_reward_min": rec.get("ep_reward_min"), "episode_reward_max": rec.get("ep_reward_max"),
            "episode_len_mean": rec.get("ep_length_mean"), "episodes": rec.get("episodes"),
            "train_success_rate": rec.get("success_rate"), "evaluations": n_eval,
            "eval_success_rate": ev.get("eval_success_rate"),
            "eval_conflict_free": (ev.get("eval_info") or {}).get("conflict_free"),
            "zero_conflict_streak": streak, "stage": rec.get("stage"),
            "steps_per_s": rec.get("steps_per_s"), "wall_time": rec.get("wall_time"),
        })
    return rows


def write_csv(records: list[dict], path: str, already: int) -> int:
    """Write rows ``already:`` of :func:`csv_rows` to ``path`` (header first when ``already == 0``,
    truncating the file); return the number of rows written so far."""
    rows = csv_rows(records)
    with open(path, "w" if already == 0 else "a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
        if already == 0:
            w.writeheader()
        w.writerows({k: ("" if v is None else v) for k, v in r.items()} for r in rows[already:])
    return max(len(rows), already)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``monitor_training.py``."""
    args = build_parser().parse_args(argv)
    run = Path(args.run) if args.run else newest_run(Path(args.runs_dir))
    log = run / "progress.jsonl"
    if not log.is_file():
        raise CliError(f"{run} has no progress.jsonl: not a run folder")
    csv_done = 0
    while True:
        records = read_progress(log)
        if args.csv:
            csv_done = write_csv(records, args.csv, csv_done)
        status = analyse(records, str(run), mtime=log.stat().st_mtime, stale_after=args.stale_after)
        if args.json:
            print(json.dumps(status.to_dict(), default=float))
        else:
            console.print(render(status))
        if args.plot:
            plot(records, args.plot)
            if not args.json:
                console.print(f"wrote {args.plot}")
        if not args.watch or status.state in ("finished",):
            return 1 if any(a.kind in ("collapse", "not_writing", "failed") for a in status.alerts) else 0
        time.sleep(args.watch)


if __name__ == "__main__":
    entry(main)
