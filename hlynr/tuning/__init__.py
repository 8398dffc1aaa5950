"""Hyperparameter tuning with Optuna studies, driven by a config's ``tune:`` section.

A study runs trials; each trial applies sampled values to the experiment config and trains
one normal run folder per seed under ``<runs_dir>/<name>/tune-<study>/trial-<n>/``. Studies live
in standard Optuna storage (SQLite file by default, any RDB URL, or a journal file), so several
processes or machines with the same study name and storage share one study, and
optuna-dashboard can read it.

Entry points: ``python train.py --config FILE --optimize`` (``hlynr tune --config FILE``),
:func:`hlynr.tuning.study.run_study` from Python.
"""

# hlynr.config must be imported before hlynr.tuning.schema: the config schema imports
# TuneConfig, and importing hlynr.config.base (which TuneConfig needs) first runs
# hlynr/config/__init__.py. Importing it here first keeps that chain acyclic.
import hlynr.config  # noqa: F401  isort: skip
from hlynr.tuning.schema import (  # noqa: E402
    ObjectiveConfig, ParamSpec, PrunerConfig, SamplerConfig, TuneConfig,
)

__all__ = ["ObjectiveConfig", "ParamSpec", "PrunerConfig", "SamplerConfig", "TuneConfig"]
