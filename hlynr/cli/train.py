"""``python train.py``: train from a YAML config, or resume a run folder.

    python train.py                                # the embedded default config
    python train.py --config configs/classic/pendulum_ppo.yaml --set algo.hyperparams.learning_rate=1e-3
    python train.py --resume runs/pendulum_ppo/20261121-221500
    python train.py --zoo hyperparams/ppo.yml --env CartPole-v1     # an RL Zoo file as it is
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import TYPE_CHECKING

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from hlynr.builtins import PLUGINS
from hlynr.cli.common import CliError, add_config_arguments, entry, err_console, make_console
from hlynr.cli.groups import add_group_arguments, resume_group, run_group, seed_overrides
from hlynr.cli.study import check_only, run_study_from_config
from hlynr.config.imports import is_path
from hlynr.presets import preset_path
from hlynr.registries import EvalResult, EvaluationListener, RunStatus
from hlynr.zoo import load_config, load_zoo

if TYPE_CHECKING:
    from stable_baselines3.common.base_class import BaseAlgorithm

    from hlynr.config import ExperimentConfig
    from hlynr.training.runner import RunResult

console = make_console()


def build_parser() -> argparse.ArgumentParser:
    """The train.py argument parser."""
    p = argparse.ArgumentParser(prog="train.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    src = add_config_arguments(p, "YAML config file (default: the embedded default)",
                               "algo.hyperparams.n_steps=512")
    src.add_argument("--resume", metavar="RUN",
                     help="continue a run folder from its newest checkpoint "
                          "(with --set total_timesteps=N: train further)")
    p.add_argument("--run-dir", metavar="DIR",
                   help="train into this new folder instead of <runs_dir>/<name>/<timestamp>/")
    src.add_argument("--zoo", metavar="FILE",
                     help="an RL Zoo hyperparameter file (hyperparams/<algo>.yml); needs --env")
    p.add_argument("--env", help="with --zoo: the env id whose entry to use (else 'default')")
    p.add_argument("--algo", help="with --zoo: the Zoo algorithm name (default: the file's stem)")
    p.add_argument("--check", action="store_true", help="validate the config and exit")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.add_argument("--optimize", action="store_true",
                   help="run the config's tune: section (hyperparameter search) instead of one run")
    add_group_arguments(p)
    return p


class _Display(EvaluationListener):
    """A rich progress bar plus one summary line per evaluation."""

    def __init__(self, total: int, quiet: bool) -> None:
        self.quiet = quiet
        self.total = total
        self.last_eval = "-"
        self._last_draw = 0.0
        self.progress = Progress(
            TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[sps]} steps/s"), TimeElapsedColumn(), TextColumn("eta"),
            TimeRemainingColumn(), TextColumn("eval {task.fields[eval]}"),
            console=console, transient=False, disable=quiet,
        )
        self.task = self.progress.add_task("train", total=total, sps="-", eval="-")
        self._t0 = time.perf_counter()
        self._s0: int | None = None

    def on_step(self, timesteps: int) -> None:
        now = time.perf_counter()
        if self._s0 is None:
            self._s0, self._t0 = timesteps, now
        if now - self._last_draw < 0.25:
            return
        self._last_draw = now
        sps = (timesteps - self._s0) / max(now - self._t0, 1e-9)
        self.progress.update(self.task, completed=timesteps, sps=f"{sps:,.0f}")

    def on_evaluation(self, result: EvalResult, model: BaseAlgorithm) -> bool:
        m = result.metrics
        if "success_rate" in m:
            self.last_eval = (f"success {m['success_rate']:.1%} "
                              f"[{m['success_ci_low']:.0%}, {m['success_ci_high']:.0%}]")
            head = (f"success {m['success_rate']:.1%} "
                    f"(95% CI {m['success_ci_low']:.1%}-{m['success_ci_high']:.1%}), ")
        else:
            self.last_eval, head = f"reward {m['mean_reward']:.1f}", ""
        self.progress.update(self.task, eval=self.last_eval)
        line = (f"eval @ {result.timesteps:,}: {head}reward {m['mean_reward']:.2f} "
                f"± {m['std_reward']:.2f}, length {m['mean_length']:.0f}")
        if result.stage is not None:
            line += f", stage {result.stage}"
        self.progress.console.print(line)
        return True


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``train.py``."""
    args = build_parser().parse_args(argv)
    from hlynr.training.runner import RunHooks, resume_run, start_run  # torch and SB3: not for --help

    if (args.env or args.algo) and not args.zoo:
        raise CliError("--env and --algo go with --zoo FILE (a hlynr config names its env itself)")
    if args.resume:
        group_code = resume_group(args)  # a run group's or grid's folder; None for a run's
        if group_code is not None:
            return group_code
        total = _resume_total(args)
        run_config = Path(args.resume) / "config.yaml"
        config = load_config(run_config).config if run_config.is_file() else None
        display = _Display(total or (config.total_timesteps if config else 0), args.quiet)
        hooks = RunHooks(on_step=display.on_step, listeners=[display],
                         on_notice=lambda text: display.progress.console.print(text, markup=False))
        with display.progress:
            result = resume_run(Path(args.resume), total_timesteps=total, hooks=hooks)
        return _report(result)
    if args.zoo:
        if not args.env:
            raise CliError("--zoo needs --env ID: the env whose entry to use")
        path = Path(args.zoo)
        loaded = load_zoo(path, args.env, args.algo, [*args.overrides, *seed_overrides(args)])
    else:
        path = Path(args.config) if args.config else preset_path(args.preset or "default")
        loaded = load_config(path, [*args.overrides, *seed_overrides(args)])
    config = loaded.config
    for note in loaded.notes:
        console.print(f"note: {note}", markup=False)
    if args.check:
        if config.tune is not None:
            check_only(config, path)
        console.print(f"{path}: config OK ({config.algo.name} on {config.env.id}, "
                      f"{config.total_timesteps:,} timesteps)", markup=False)
        code = user_code(config)
        if code:
            console.print(f"imports user code: {', '.join(code)}", markup=False)
        return 0
    group_code = run_group(args, config)  # seeds: or grid: (None for one run)
    if group_code is not None:
        return group_code
    if args.optimize:
        if args.run_dir:
            raise CliError("--run-dir names one run's folder; --optimize writes one folder per trial "
                           "(use --runs-dir)")
        return run_study_from_config(config, path, runs_dir=args.runs_dir, quiet=args.quiet)
    display = _Display(config.total_timesteps, args.quiet)
    hooks = RunHooks(on_step=display.on_step, listeners=[display])
    with display.progress:
        result = start_run(config, runs_dir=Path(args.runs_dir) if args.runs_dir else None,
                           run_dir=Path(args.run_dir) if args.run_dir else None, hooks=hooks)
    return _report(result)


def user_code(config: ExperimentConfig) -> list[str]:
    """The user code a config imports: ``module:Class`` paths and installed plugin components."""
    names = [config.env.id, config.algo.policy or "",
             *(spec.name for spec in (*config.wrappers, *config.callbacks)),
             *(str(v) for v in (config.algo.hyperparams.get("replay_buffer_class"),
                                config.algo.policy_kwargs.get("features_extractor_class")) if v)]
    found = [n for n in names if is_path(n)]
    found += [f"{n} (plugin {PLUGINS[n]})" for n in names if n in PLUGINS]
    return list(dict.fromkeys(found))


def _resume_total(args: argparse.Namespace) -> int | None:
    """The only override a resume takes: ``--set total_timesteps=N`` (to train further)."""
    if args.check or args.optimize or args.config or args.preset or args.zoo or args.run_dir:
        raise CliError("--resume continues a run with its own config; it cannot be combined "
                       "with --config/--preset/--zoo/--check/--optimize/--run-dir")
    total = None
    for item in args.overrides:
        key, _, value = item.partition("=")
        if key != "total_timesteps":
            raise CliError(f"--resume takes only --set total_timesteps=N (got --set {item}): "
                           "other changes would make the run folder describe a different run")
        try:
            total = int(float(value))
        except ValueError:
            raise CliError(f"--set {item}: total_timesteps must be a number") from None
    return total


def _report(result: RunResult) -> int:
    """Print how the run ended; its exit code (docs/runs.md)."""
    console.print(f"run {result.status}: {result.reason}; {result.timesteps:,} timesteps in "
                  f"{result.wall_time:.0f} s -> {result.run_dir}", markup=False)
    if result.best:
        console.print(f"best: {result.best.get('metric')} = {result.best.get('value'):.4g} "
                      f"at {result.best.get('timesteps'):,} timesteps", markup=False)
    if result.error is not None:  # found mid-run: a missing metric, a pretraining error
        err_console.print(Text.assemble(("error:", "bold red"), " ", f"{result.run_dir}: {result.reason}"),
                          soft_wrap=True)
    if result.status is RunStatus.INTERRUPTED:
        console.print(f"checkpoint saved; continue with: python train.py --resume {result.run_dir}",
                      markup=False)
    return result.exit_code


if __name__ == "__main__":
    entry(main)
