"""Console front end of a study: header, one line per trial, summary table, importances, export.

``python train.py --config FILE --optimize`` and ``hlynr tune --config FILE`` both end here.
"""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from hlynr.cli.common import EXIT_INTERRUPTED, make_console
from hlynr.config import ConfigError, ExperimentConfig

console = make_console()


def check_only(config: ExperimentConfig, path: str | Path | None) -> int:
    """Print one line on the search space of a loaded config (loading checked it), return 0."""
    tune = config.tune
    assert tune is not None
    console.print(f"{path}: search space OK ({len(tune.params)} parameter(s), {tune.sampler.name} "
                  f"sampler, {tune.pruner.name} pruner, {tune.n_trials} trial(s) of "
                  f"{tune.timesteps or config.total_timesteps:,} timesteps x "
                  f"{len(tune.seed_list(config.seed))} seed(s))")
    return 0


def run_study_from_config(config: ExperimentConfig, path: str | Path | None, *,
                          runs_dir: str | Path | None = None, quiet: bool = False) -> int:
    """Run the config's ``tune:`` study and print its summary; returns the exit code.

    0 when this process's trials ran (failed trials included: their reasons are listed),
    1 when the study has no completed trial or had to stop, 130 when interrupted.
    """
    # optuna: for a study only (train.py imports this module for every run)
    from hlynr.tuning.report import best_trials_table, failed_trials
    from hlynr.tuning.study import run_study, trial_line

    if config.tune is None:
        raise ConfigError(f"{path}: --optimize needs a 'tune:' section in the config "
                          "(search space, budget, objective); see docs/tuning.md")
    tune = config.tune
    out = console

    def on_trial(study, trial) -> None:  # noqa: ANN001 - optuna callback
        if not quiet:
            out.print(trial_line(trial, tune))

    def on_start(outcome) -> None:  # noqa: ANN001 - StudyOutcome
        if quiet:
            return
        folder, spec = outcome.study_dir, outcome.storage
        done = len(outcome.study.get_trials(deepcopy=False))
        out.print(f"study [bold]{outcome.study.study_name}[/] ({done} trial(s) so far): "
                  f"{tune.n_trials} trial(s) in this process of "
                  f"{tune.timesteps or config.total_timesteps:,} timesteps x "
                  f"{len(tune.seed_list(config.seed))} seed(s), {tune.sampler.name} sampler, "
                  f"{tune.pruner.name} pruner"
                  + (f", n_jobs {tune.n_jobs}" if tune.n_jobs > 1 else "")
                  + (f", time limit {tune.timeout:.0f} s" if tune.timeout else ""))
        out.print(f"  storage   {spec.display}\n  trials -> {folder}/trial-<n>/seed-<s>/  "
                  f"(follow: python monitor_training.py --runs-dir {folder})\n"
                  f"  dashboard {spec.dashboard_command()}")

    outcome = run_study(config, runs_dir=Path(runs_dir) if runs_dir else None,
                        on_start=on_start, on_trial=on_trial)
    study = outcome.study
    out.print(best_trials_table(study, tune))
    failures = failed_trials(study)
    if failures:
        out.print(f"{len(failures)} failed trial(s):")
        for number, reason in failures[-10:]:
            out.print(f"  trial {number}: {reason.splitlines()[0][:300]}")
    if outcome.importances:
        table = Table(title="parameter importances (PED-ANOVA, completed trials)")
        table.add_column("parameter")
        table.add_column("importance", justify="right")
        for name, value in outcome.importances.items():
            table.add_row(name, f"{value:.3f}")
        out.print(table)
    elif outcome.importance_note:
        out.print(f"[dim]{outcome.importance_note}[/]")
    if outcome.best_yaml is not None and outcome.best_trial is not None:
        out.print(f"best trial {outcome.best_trial.number} -> {outcome.best_yaml}\n"
                  f"  train it: python train.py --config {outcome.best_yaml}")
    out.print(f"study summary -> {outcome.study_dir / 'study.json'}")
    if outcome.aborted:
        out.print(f"[bold red]study stopped:[/] {outcome.aborted}")
        return EXIT_INTERRUPTED if outcome.aborted.startswith("interrupted") else 1
    return 0 if outcome.best_trial is not None else 1
