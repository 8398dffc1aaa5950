"""The tune: section and the search space fail before any trial, with the key and a hint."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
import yaml

from hlynr.cli.study import run_study_from_config
from hlynr.config import ConfigError, validate_config
from hlynr.config.tuning import ObjectiveConfig
from hlynr.tuning.objective import aggregate
from hlynr.tuning.space import base_config, check_search_space, sample, trial_config_data
from hlynr.zoo import load_config

from .conftest import make_config

LR = "algo.hyperparams.learning_rate"
ARCH_KEY = "algo.policy_kwargs.net_arch"


def _fails_before_any_trial(path: Path, runs: Path) -> str:
    """Run the study from ``path``; it must raise ConfigError and leave no trace."""
    with pytest.raises(ConfigError) as info:
        config = load_config(path).config
        run_study_from_config(config, path, runs_dir=runs, quiet=True)
    assert not runs.exists() or not any(runs.rglob("tune.db")), "storage created"
    assert not runs.exists() or not any(runs.rglob("trial-*")), "a trial ran"
    return str(info.value)


def test_unknown_key_path_is_named_with_suggestion_and_line(write_config, tmp_path: Path) -> None:
    path = write_config(make_config({"params": {
        LR: {"type": "float", "low": 1e-4, "high": 1e-2, "log": True},
        "algo.hyperparams.n_epoch": {"type": "int", "low": 1, "high": 4}}}))
    msg = _fails_before_any_trial(path, tmp_path / "runs")
    assert "no trial was run" in msg
    assert "tune.params.algo.hyperparams.n_epoch" in msg
    assert "unknown key 'n_epoch'" in msg and "n_epochs" in msg  # did-you-mean hint
    line = next(i for i, t in enumerate(path.read_text().splitlines(), 1) if "n_epoch:" in t)
    assert f"{path}:{line}" in msg
    assert LR not in msg  # the valid parameter is not blamed


@pytest.mark.parametrize("args", [[], ["--check"], ["--optimize"]])
def test_train_refuses_a_bad_search_space_whatever_the_command(
        write_config, tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    """Without --optimize the tune: section is not run, but it is validated before anything runs."""
    from hlynr.cli.common import run_main
    from hlynr.cli.train import main as train_main

    path = write_config(make_config({"params": {
        "algo.hyperparams.n_epoch": {"type": "int", "low": 1, "high": 4}}}))
    runs = tmp_path / "runs"
    assert run_main(train_main, ["--config", str(path), "--runs-dir", str(runs), "--quiet", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: invalid search space") and "unknown key 'n_epoch'" in err
    assert not runs.exists(), "nothing ran"


def test_value_out_of_schema_range_is_rejected(write_config, tmp_path: Path) -> None:
    path = write_config(make_config({"params": {
        "env.n_envs": {"type": "int", "low": 0, "high": 4}}}))
    msg = _fails_before_any_trial(path, tmp_path / "runs")
    assert "tune.params.env.n_envs" in msg and "the value 0" in msg


@pytest.mark.parametrize("spec, expected", [
    ({"type": "float", "low": 0.1, "high": 0.01}, "low (0.1) is greater than high (0.01)"),
    ({"type": "categorical", "choices": []}, "'choices' is empty"),
    ({"type": "categorical"}, "needs 'choices'"),
    ({"type": "float", "low": 0.0, "high": 0.1, "log": True}, "needs low > 0"),
    ({"type": "int", "low": 1.5, "high": 4}, "must be an integer"),
    ({"type": "float", "low": 0.1, "high": 0.2, "choices": [1]}, "'choices' applies to"),
    ({"type": "gaussian", "low": 0.1, "high": 0.2}, "'float', 'int' or 'categorical'"),
])
def test_bad_distribution_fails_at_load_with_line(write_config, spec, expected) -> None:
    path = write_config(make_config({"params": {LR: spec}}))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    msg = str(info.value)
    assert expected in msg
    line = next(i for i, t in enumerate(path.read_text().splitlines(), 1)
                if t.strip() == f"{LR}:")
    assert "tune.params" in msg
    assert any(f"{path}:{n}:" in msg for n in range(line, line + 6))  # the key's own line


def test_unknown_tune_key_suggests(write_config) -> None:
    path = write_config(make_config({"n_trial": 3, "params": {
        LR: {"type": "float", "low": 1e-4, "high": 1e-2}}}))
    with pytest.raises(ConfigError, match="unknown key 'n_trial'.*n_trials"):
        load_config(path)


@pytest.mark.parametrize("objective, expected", [
    ({"metric": "success_rate", "direction": "minimize"}, "better when higher"),
    ({"metric": "miss_distance"}, "no natural direction"),
    ({"metric": "episodes", "direction": "maximize"}, "does not measure the policy"),
    ({"aggregate": "best", "k": 2}, "'k' applies to aggregate: mean_last_k"),
])
def test_objective_direction_is_validated(objective, expected) -> None:
    data = make_config({"objective": objective,
                        "params": {LR: {"type": "float", "low": 1e-4, "high": 1e-2}}})
    with pytest.raises(ConfigError, match=expected):
        validate_config(data)


def test_no_evaluation_callback_or_too_few_evaluations() -> None:
    params = {LR: {"type": "float", "low": 1e-4, "high": 1e-2}}
    with pytest.raises(ConfigError, match="add an 'evaluation' callback"):
        validate_config(make_config({"params": params}, callbacks=[]))
    with pytest.raises(ConfigError, match="no evaluation would run"):
        validate_config(make_config({"timesteps": 200, "params": params}))
    with pytest.raises(ConfigError, match="k = 9 but a trial evaluates only 4"):
        validate_config(make_config({"objective": {"k": 9}, "params": params}))


def test_grid_sampler_needs_finite_values() -> None:
    data = make_config({"sampler": "grid", "params": {
        LR: {"type": "float", "low": 1e-4, "high": 1e-2}}})
    with pytest.raises(ConfigError, match="grid sampler needs a finite set"):
        validate_config(data)
    data["tune"]["params"][LR]["step"] = 0.005
    tune = validate_config(data).tune
    assert tune is not None and tune.grid_size() == 2


def test_condition_that_never_holds_is_rejected() -> None:
    with pytest.raises(ConfigError, match="is 'PPO' in the config and is not tuned"):
        validate_config(make_config({"params": {
            "algo.policy_kwargs.lstm_hidden_size": {
                "type": "int", "low": 8, "high": 32, "when": {"algo.name": "RecurrentPPO"}}}}))


def test_condition_must_reference_an_earlier_parameter() -> None:
    data = make_config({"params": {
        "algo.policy_kwargs.lstm_hidden_size": {
            "type": "int", "low": 8, "high": 32, "when": {"algo.name": "RecurrentPPO"}},
        "algo.name": {"type": "categorical", "choices": ["PPO", "RecurrentPPO"]}}})
    with pytest.raises(ConfigError, match="declared after"):
        validate_config(data)


# sb3-contrib's RecurrentPPO: its policy's LSTM options are validated keys.
RPPO = "RecurrentPPO"


def _recurrent_space(lstm_key: str = "algo.policy_kwargs.lstm_hidden_size") -> dict:
    return make_config({"params": {
        "algo.name": {"type": "categorical", "choices": ["PPO", RPPO]},
        lstm_key: {"type": "categorical", "choices": [8, 16], "when": {"algo.name": RPPO}},
        LR: {"type": "float", "low": 1e-4, "high": 1e-2, "log": True}}},
        algo={"name": "PPO", "policy": "MlpPolicy", "hyperparams": {"n_steps": 64}})


def test_conditional_lstm_size_is_sampled_only_for_recurrent_policies() -> None:
    config = validate_config(_recurrent_space())
    check_search_space(config)  # lstm_hidden_size validated against RecurrentPPO's policy
    base = base_config(config)
    assert "policy" not in base["algo"], "a default policy must follow the tuned algorithm"
    assert config.tune is not None
    for algo, expect_lstm in (("PPO", False), (RPPO, True)):
        trial = optuna.trial.FixedTrial({"algo.name": algo, LR: 1e-3,
                                         "algo.policy_kwargs.lstm_hidden_size": 16})
        values = sample(trial, config.tune, base)
        assert ("algo.policy_kwargs.lstm_hidden_size" in values) is expect_lstm
        run = validate_config(trial_config_data(base, values, timesteps=512, seed=3))
        assert run.algo.name == algo and run.seed == 3 and run.total_timesteps == 512
        assert run.tune is None
        assert run.algo.policy == ("MlpLstmPolicy" if expect_lstm else "MlpPolicy")
        assert run.algo.policy_kwargs.get("lstm_hidden_size") == (16 if expect_lstm else None)
        assert run.algo.hyperparams["learning_rate"] == 1e-3


def test_misspelt_conditional_key_is_caught_under_its_condition() -> None:
    with pytest.raises(ConfigError) as info:
        validate_config(_recurrent_space("algo.policy_kwargs.lstm_hiden_size"))
    msg = str(info.value)
    assert f"algo.name = '{RPPO}'" in msg and "did you mean 'lstm_hidden_size'" in msg


def test_list_choices_round_trip_through_optuna() -> None:
    config = validate_config(make_config({"params": {
        "algo.policy_kwargs.net_arch": {"type": "categorical", "choices": [[16], [32, 32]]}}}))
    assert config.tune is not None
    study = optuna.create_study()
    trial = study.ask()
    values = sample(trial, config.tune, base_config(config))
    assert values["algo.policy_kwargs.net_arch"] in ([16], [32, 32])
    assert trial.params["algo.policy_kwargs.net_arch"] in ("[16]", "[32, 32]")


def test_aggregates() -> None:
    vals = [1.0, 5.0, 2.0, 4.0]
    assert aggregate(vals, ObjectiveConfig(aggregate="last")) == 4.0
    assert aggregate(vals, ObjectiveConfig(aggregate="best")) == 5.0
    assert aggregate(vals, ObjectiveConfig(aggregate="best", metric="mean_length",
                                           direction="minimize")) == 1.0
    assert aggregate(vals, ObjectiveConfig(k=2)) == 3.0
    assert aggregate(vals, ObjectiveConfig()) == pytest.approx(11 / 3)  # default k = 3
    assert aggregate([7.0], ObjectiveConfig(k=3)) == 7.0


def test_storage_values_are_checked() -> None:
    params = {LR: {"type": "float", "low": 1e-4, "high": 1e-2}}
    with pytest.raises(ConfigError, match="neither a database URL"):
        validate_config(make_config({"storage": "runs/study.txt", "params": params}))
    with pytest.raises(ConfigError, match="not a database Optuna can use"):
        validate_config(make_config({"storage": "redis://localhost/0", "params": params}))
    for ok in ("postgresql://u:p@db/optuna", "runs/x.db", "runs/x.log", "sqlite:///x.db"):
        validate_config(make_config({"storage": ok, "params": params}))


@pytest.mark.parametrize("sampler, cls", [
    ({"name": "tpe", "seed": 1, "n_startup_trials": 2}, optuna.samplers.TPESampler),
    ("random", optuna.samplers.RandomSampler),
    ({"name": "cmaes", "seed": 1}, optuna.samplers.CmaEsSampler),
    ("grid", optuna.samplers.GridSampler),
])
def test_samplers_propose_values_inside_the_space(sampler, cls) -> None:
    from hlynr.tuning.study import make_sampler

    config = validate_config(make_config({"sampler": sampler, "params": {
        LR: {"type": "float", "low": 1e-3, "high": 3e-3, "step": 1e-3},
        "algo.hyperparams.n_epochs": {"type": "int", "low": 1, "high": 3},
        ARCH_KEY: {"type": "categorical", "choices": [[16], [8, 8]]}}}))
    assert config.tune is not None
    made = make_sampler(config.tune)
    assert isinstance(made, cls)
    study = optuna.create_study(sampler=made, direction="maximize")
    base = base_config(config)
    seen = []
    for _ in range(4):
        trial = study.ask()
        values = sample(trial, config.tune, base)
        assert values[LR] in (1e-3, 2e-3, 3e-3) and values["algo.hyperparams.n_epochs"] in (1, 2, 3)
        assert values[ARCH_KEY] in ([16], [8, 8])
        study.tell(trial, values[LR])
        seen.append(tuple(map(str, values.values())))
    if sampler == "grid":
        assert len(set(seen)) == 4, "the grid sampler repeats no point"


@pytest.mark.parametrize("pruner, cls", [
    ({"name": "median", "n_startup_trials": 1}, optuna.pruners.MedianPruner),
    ({"name": "successive_halving", "reduction_factor": 2},
     optuna.pruners.SuccessiveHalvingPruner),
    ({"name": "hyperband", "min_resource": 2}, optuna.pruners.HyperbandPruner),
    ("none", optuna.pruners.NopPruner),
])
def test_pruners_are_built_from_the_section(pruner, cls) -> None:
    from hlynr.tuning.study import make_pruner

    config = validate_config(make_config({"pruner": pruner, "params": {
        LR: {"type": "float", "low": 1e-4, "high": 1e-2}}}))
    assert config.tune is not None and isinstance(make_pruner(config.tune), cls)
    with pytest.raises(ConfigError, match="'reduction_factor' does not apply to the median"):
        validate_config(make_config({"pruner": {"name": "median", "reduction_factor": 2},
                                     "params": {LR: {"type": "float", "low": 1, "high": 2}}}))


def test_processes_finishing_together_export_best_yaml_without_clashing(tmp_path: Path) -> None:
    """Workers of one study finish at the same time and all write ``best.yaml`` and
    ``study.json``: each write goes through its own temporary file, so none of them fails."""
    import threading

    from hlynr.tuning.report import export_best, write_summary

    tune = {"n_trials": 4, "params": {LR: {"type": "float", "low": 1e-4, "high": 3e-2, "log": True}}}
    path = tmp_path / "tune.yaml"
    path.write_text(yaml.safe_dump(make_config(tune), sort_keys=False))
    config = load_config(path).config
    base = base_config(config)
    study = optuna.create_study(direction="maximize")
    dist = optuna.distributions.FloatDistribution(1e-4, 3e-2, log=True)
    for i, lr in enumerate([1e-3, 2e-3, 3e-3]):
        study.add_trial(optuna.trial.create_trial(
            params={LR: lr}, distributions={LR: dist}, value=float(i),
            user_attrs={"values": {LR: lr}}))
    errors: list[BaseException] = []

    def finish() -> None:
        try:
            for _ in range(25):
                export_best(study, config, base, tmp_path / "best.yaml", "memory")
                write_summary(study, config.tune, tmp_path / "study.json", "memory", None)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=finish) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert load_config(tmp_path / "best.yaml").config.algo.hyperparams["learning_rate"] == 3e-3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.yaml", "study.json", "tune.yaml"]
