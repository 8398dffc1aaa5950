"""What a study produced: a table of the best trials, parameter importances, ``best.yaml``.

Everything here reads the study from its storage, so any process (on any machine) sharing the
study reports on all trials, not only its own.
"""

from __future__ import annotations

import datetime as dt
import math
import warnings
from pathlib import Path
from typing import Any

import optuna
import yaml
from optuna.trial import FrozenTrial, TrialState
from rich.table import Table

from hlynr.config import ExperimentConfig, dump_config, validate_config
from hlynr.config.tuning import TuneConfig
from hlynr.runs.files import write_json, write_text_atomic
from hlynr.tuning.space import decode_params, trial_config_data

BEST_FILE = "best.yaml"
SUMMARY_FILE = "study.json"


def trial_values(trial: FrozenTrial, tune: TuneConfig) -> dict[str, Any]:
    """The config values a trial used (key path -> value)."""
    values = trial.user_attrs.get("values")
    return dict(values) if isinstance(values, dict) else decode_params(tune, trial.params)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _duration(trial: FrozenTrial) -> float | None:
    if trial.datetime_start is None:
        return None
    end = trial.datetime_complete or dt.datetime.now()
    return (end - trial.datetime_start).total_seconds()


def ranked_trials(study: optuna.Study) -> list[FrozenTrial]:
    """Completed trials, best first."""
    done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if t.value is not None and math.isfinite(t.value)]
    maximize = study.direction == optuna.study.StudyDirection.MAXIMIZE
    return sorted(done, key=lambda t: float(t.value or 0.0), reverse=maximize)


def state_counts(study: optuna.Study) -> dict[str, int]:
    """Number of trials in each state (complete, pruned, fail, running, waiting)."""
    counts: dict[str, int] = {}
    for t in study.get_trials(deepcopy=False):
        counts[t.state.name.lower()] = counts.get(t.state.name.lower(), 0) + 1
    return counts


def short_names(paths: list[str]) -> dict[str, str]:
    """Column names: the last key of each path, longer where two would be the same."""
    out = {}
    for path in paths:
        parts = path.split(".")
        n = 1
        while n < len(parts) and sum(p.split(".")[-n:] == parts[-n:] for p in paths) > 1:
            n += 1
        out[path] = ".".join(parts[-n:])
    return out


def best_trials_table(study: optuna.Study, tune: TuneConfig, top: int = 10) -> Table:
    """A rich table of the ``top`` best completed trials with their tuned values."""
    metric = next((t.user_attrs.get("metric") for t in ranked_trials(study)
                   if t.user_attrs.get("metric")), "objective")
    counts = state_counts(study)
    title = (f"study '{study.study_name}': best {min(top, counts.get('complete', 0))} of "
             + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    table = Table(title=title)
    table.add_column("rank", justify="right")
    table.add_column("trial", justify="right")
    table.add_column(f"{metric} ({tune.objective.aggregate})", justify="right")
    for name in tune.params:
        table.add_column(short_names(list(tune.params))[name], justify="right")
    table.add_column("time", justify="right")
    for rank, t in enumerate(ranked_trials(study)[:top], 1):
        values = trial_values(t, tune)
        secs = _duration(t)
        table.add_row(str(rank), str(t.number), _fmt(t.value),
                      *[_fmt(values[n]) if n in values else "-" for n in tune.params],
                      f"{secs:.0f} s" if secs is not None else "-")
    return table


def failed_trials(study: optuna.Study) -> list[tuple[int, str]]:
    """(trial number, reason) of every failed trial."""
    return [(t.number, str(t.user_attrs.get("fail_reason", "unknown (no reason recorded)")))
            for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,))]


def param_importances(study: optuna.Study) -> tuple[dict[str, float] | None, str]:
    """Optuna's parameter importances (PED-ANOVA) over completed trials, or why there are none."""
    done = ranked_trials(study)
    if len(done) < 2:
        return None, (f"parameter importances need at least 2 completed trials "
                      f"(this study has {len(done)})")
    if len({t.value for t in done}) < 2:
        return None, "parameter importances need completed trials with different scores"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            importances = optuna.importance.get_param_importances(study)
        except (ValueError, RuntimeError, ZeroDivisionError) as exc:
            return None, f"parameter importances unavailable: {exc}"
    if any("too small" in str(w.message) for w in caught):
        return None, (f"too few completed trials ({len(done)}) to rank parameters; "
                      "run more trials")
    if not importances:
        return None, ("no parameter was sampled in every completed trial (conditional "
                      "parameters are ranked only over trials that share them)")
    return dict(importances), ""


def export_best(study: optuna.Study, config: ExperimentConfig, base: dict[str, Any],
                path: Path, storage_display: str) -> tuple[Path, FrozenTrial] | None:
    """Write the best trial as a ready-to-run config (no ``tune`` section); None if none."""
    ranked = ranked_trials(study)
    if not ranked:
        return None
    best = ranked[0]
    tune = config.tune
    assert tune is not None
    timesteps = tune.timesteps or config.total_timesteps
    seeds = tune.seed_list(config.seed)
    values = trial_values(best, tune)
    data = trial_config_data(base, values, timesteps=timesteps, seed=seeds[0])
    resolved = validate_config(data, f"best trial {best.number} config")
    metric = best.user_attrs.get("metric", "objective")
    agg = tune.objective.aggregate + (f" k={tune.objective.k}" if tune.objective.k else "")
    header = [
        f"Best trial {best.number} of study '{study.study_name}' ({storage_display}):",
        f"  {metric} = {best.value:.6g} ({agg}, mean over {len(seeds)} seed(s): "
        f"{', '.join(str(s) for s in seeds)})",
        "Tuned values:",
        *[f"  {k}: {v!r}" for k, v in values.items()],
        f"python train.py --config {path.name} reproduces the trial's first seed "
        f"({timesteps} timesteps).",
    ]
    if timesteps != config.total_timesteps:
        header.append(f"The tuned config asked for {config.total_timesteps} timesteps: add "
                      f"--set total_timesteps={config.total_timesteps} to train that long.")
    text = "".join(f"# {line}\n" for line in header)
    plain = dump_config(resolved)
    plain.pop("tune", None)
    text += yaml.safe_dump(plain, sort_keys=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, text)
    return path, best


def write_summary(study: optuna.Study, tune: TuneConfig, path: Path, storage_display: str,
                  importances: dict[str, float] | None) -> None:
    """``study.json``: every trial's state, score, values, reason and run folders."""
    trials = []
    for t in study.get_trials(deepcopy=False):
        trials.append({
            "number": t.number, "state": t.state.name.lower(),
            "value": t.value if t.value is None or math.isfinite(t.value) else None,
            "values": trial_values(t, tune), "metric": t.user_attrs.get("metric"),
            "seed_scores": t.user_attrs.get("seed_scores"),
            "fail_reason": t.user_attrs.get("fail_reason"),
            "pruned_at": t.user_attrs.get("pruned_at"),
            "run_dirs": t.user_attrs.get("run_dirs"), "duration_s": _duration(t)})
    ranked = ranked_trials(study)
    write_json(path, {
        "study": study.study_name, "storage": storage_display,
        "direction": study.direction.name.lower(), "counts": state_counts(study),
        "best": ({"number": ranked[0].number, "value": ranked[0].value,
                  "values": trial_values(ranked[0], tune)} if ranked else None),
        "importances": importances, "trials": trials})
