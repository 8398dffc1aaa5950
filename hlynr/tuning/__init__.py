"""Hyperparameter tuning with Optuna studies, driven by a config's ``tune:`` section.

A study runs trials; each trial applies sampled values to the experiment config and trains
one normal run folder per seed under ``<runs_dir>/<name>/tune-<study>/trial-<n>/``. Studies live
in standard Optuna storage (SQLite file by default, any RDB URL, or a journal file), so several
processes or machines with the same study name and storage share one study, and
optuna-dashboard can read it.

Entry points: ``python train.py --config FILE --optimize`` (``hlynr tune --config FILE``),
:func:`hlynr.tuning.study.run_study` from Python.
"""

