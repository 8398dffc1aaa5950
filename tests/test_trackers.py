"""Experiment trackers (``tracking:``): each writes what its own client reads back, ``--resume``
continues the same tracker run, tuning trials share the study's group, a missing package fails
``--check`` with the command that installs it, and a failing tracker never stops a run."""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hlynr_testing import coin_config

from hlynr.config import ConfigError, dump_config, validate_config
from hlynr.runs.progress_log import read_progress
from hlynr.training.runner import resume_run, start_run

EVAL = {"evaluation": {"every": 128, "episodes": 2}}


def tracked(tracking: dict[str, Any], **over: Any) -> dict[str, Any]:
    """The coin config (512 steps, 8 rollout records, 4 evaluations) with ``tracking``."""
    return coin_config(tracking=tracking, callbacks=[EVAL, "best_model"], **over)


def rollout_steps(run: Path) -> list[int]:
    return [r["timesteps"] for r in read_progress(run / "progress.jsonl") if r["type"] == "rollout"]


# --- config --------------------------------------------------------------------------------

def test_tracking_keys_are_validated() -> None:
    with pytest.raises(ConfigError, match=r"tracking.mlflw: unknown key 'mlflw' \(did you mean 'mlflow'\?\)"):
        validate_config(tracked({"mlflw": {}}))
    with pytest.raises(ConfigError, match=r"tracking.wandb.mode: .*'online', 'offline' or 'disabled'"):
        validate_config(tracked({"wandb": {"mode": "sometimes"}}))
    with pytest.raises(ConfigError, match=r"tensorboard.gruop: unknown key 'gruop' \(did you mean 'group'\?\)"):
        validate_config(tracked({"tensorboard": {"gruop": "x"}}))
    config = validate_config(tracked({"tensorboard": None, "mlflow": False}))
    assert config.tracking is not None and list(config.tracking.named()) == ["tensorboard"]
    again = validate_config(dump_config(config))  # config.yaml of a run reads back the same trackers
    assert again.tracking is not None and list(again.tracking.named()) == ["tensorboard"]


@pytest.mark.parametrize("package", ["mlflow", "wandb"])
def test_missing_package_fails_check_with_what_to_install(
        package: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from hlynr.cli import train
    from hlynr.cli.common import run_main

    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(tracked({package: {}})))
    monkeypatch.setitem(sys.modules, package, None)  # import mlflow -> ImportError, find_spec -> None
    assert run_main(train.main, ["--config", str(path), "--check"]) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, err
    assert f"pip install 'hlynr[{package}]'" in err and f"{path}:" in err, err
    assert "Traceback" not in err


def test_flattened_config_and_record_metrics() -> None:
    from hlynr.trackers import flatten_config, record_metrics

    flat = flatten_config(validate_config(tracked({"tensorboard": {}})))
    assert flat["algo.name"] == "PPO" and flat["algo.hyperparams.n_steps"] == 32
    assert flat["callbacks.0.evaluation.every"] == 128 and flat["algo.policy_kwargs.net_arch.0"] == 8
    assert not any(k.startswith("tracking") for k in flat)
    rec = {"type": "rollout", "timesteps": 64, "ep_reward_mean": 0.5, "stage": None,
           "losses": {"value_loss": 0.1}, "ep_rewards": [1.0]}
    assert record_metrics(rec) == {"rollout/ep_reward_mean": 0.5, "train/value_loss": 0.1}
    ev = {"type": "eval", "timesteps": 64, "eval_success_rate": 0.5, "eval_info": {"p_used": 0.5}}
    assert record_metrics(ev) == {"eval/success_rate": 0.5, "eval/info/p_used": 0.5}
    staged = {**ev, "eval_stages": {"win": {"success_rate": 1.0, "p_used": 1.0},
                                    "lose": {"success_rate": 0.0}}}
    assert record_metrics(staged) == {"eval/success_rate": 0.5, "eval/info/p_used": 0.5,
                                      "eval/win/success_rate": 1.0, "eval/win/p_used": 1.0,
                                      "eval/lose/success_rate": 0.0}


def test_the_best_evaluation_is_found_by_an_info_key_or_one_stage_metric() -> None:
    from hlynr.trackers.base import Evaluations

    def ev(t: int, pooled: float, miss: float, win: float) -> dict[str, Any]:
        return {"type": "eval", "timesteps": t, "eval_success_rate": pooled,
                "eval_info": {"miss": miss}, "eval_stages": {"win": {"success_rate": win}}}

    records = [ev(1, 0.9, 5.0, 0.2), ev(2, 0.1, 1.0, 0.3), ev(3, 0.5, 3.0, 0.8)]
    for metric, mode, pooled in [("success_rate", "max", 0.9), ("miss", "min", 0.1),
                                 ("win/success_rate", "max", 0.5)]:
        evaluations = Evaluations(metric, mode, None)
        for r in records:
            evaluations.add(r)
        assert evaluations.best()["success_rate"] == pooled, metric


def test_a_failing_tracker_is_dropped_and_the_run_goes_on(tmp_path: Path) -> None:
    from hlynr.trackers import TrackerFeed

    class Broken:
        key = "broken"

        def start(self, session: Any) -> dict[str, Any]:
            return {"id": 1}

        def log(self, record: dict[str, Any], session: Any) -> None:
            raise RuntimeError("server down")

        def finish(self, end: dict[str, Any], session: Any) -> None:
            raise AssertionError("not called after being dropped")

    notices: list[str] = []
    config = validate_config(tracked({"tensorboard": {}}))
    feed = TrackerFeed(config, tmp_path, [Broken()], notices.append)
    feed({"type": "event", "event": "start", "timesteps": 0})
    feed({"type": "rollout", "timesteps": 64})
    feed({"type": "rollout", "timesteps": 128})
    feed({"type": "event", "event": "end", "timesteps": 128, "status": "completed"})
    assert len(notices) == 1 and "tracker 'broken' failed (log: RuntimeError: server down)" in notices[0]
    assert json.loads((tmp_path / "trackers.json").read_text()) == {"broken": {"id": 1}}


# --- TensorBoard hparams ----------------------------------------------------------------------

def _hparams(run: Path) -> tuple[dict[str, Any], dict[str, float]]:
    """(hparams, metric scalars) of ``<run>/tb/hparams`` as TensorBoard's hparams plugin reads them."""
    from tensorboard.backend.event_processing import event_accumulator
    from tensorboard.plugins.hparams import metadata

    acc = event_accumulator.EventAccumulator(str(run / "tb" / "hparams"))
    acc.Reload()
    content = acc.PluginTagToContent(metadata.PLUGIN_NAME)
    assert set(content) == {metadata.EXPERIMENT_TAG, metadata.SESSION_START_INFO_TAG,
                            metadata.SESSION_END_INFO_TAG}
    start = metadata.parse_session_start_info_plugin_data(content[metadata.SESSION_START_INFO_TAG])
    experiment = metadata.parse_experiment_plugin_data(content[metadata.EXPERIMENT_TAG])
    hp = {k: v.number_value if v.HasField("number_value") else v.string_value
          for k, v in start.hparams.items()}
    declared = {m.name.tag for m in experiment.metric_infos}
    scalars = {tag: acc.Scalars(tag)[-1].value for tag in acc.Tags()["scalars"]}
    assert declared == set(scalars)
    return hp, scalars


def test_tensorboard_hparams_beside_best_and_final(tmp_path: Path) -> None:
    config = validate_config(tracked({"tensorboard": {}}))
    run = start_run(config, run_dir=tmp_path / "run").run_dir
    hp, scalars = _hparams(run)
    assert hp["algo.name"] == "PPO" and hp["algo.hyperparams.n_steps"] == 32
    assert hp["group"] == "coin" and hp["run"] == f"{tmp_path.name}/run"
    evals = [r for r in read_progress(run / "progress.jsonl") if r["type"] == "eval"]
    assert len(evals) == 4
    assert scalars["final/success_rate"] == pytest.approx(evals[-1]["eval_success_rate"])
    assert scalars["best/success_rate"] == pytest.approx(max(e["eval_success_rate"] for e in evals))
    best = json.loads((run / "best" / "meta.json").read_text())
    assert scalars["best/mean_reward"] == pytest.approx(best["metrics"]["mean_reward"])


def test_tuning_trials_are_grouped_by_study(tmp_path: Path) -> None:
    from hlynr.tuning.study import run_study

    data = tracked({"tensorboard": {}}, total_timesteps=256)
    data["tune"] = {"study": "coin_lr", "n_trials": 2, "sampler": {"name": "random", "seed": 0},
                    "pruner": {"name": "none"},
                    "params": {"algo.hyperparams.learning_rate": {"type": "float", "low": 1e-4, "high": 1e-3}}}
    outcome = run_study(validate_config(data), runs_dir=tmp_path)
    runs = sorted(outcome.study_dir.glob("trial-*/seed-*"))
    assert len(runs) == 2
    for run in runs:
        hp, _ = _hparams(run)
        assert hp["group"] == "coin_lr" and hp["run"] == f"{run.parent.name}/seed-1"


# --- MLflow ------------------------------------------------------------------------------------

def test_mlflow_run_params_metrics_artifacts_and_resume(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    monkeypatch.chdir(tmp_path)  # nothing of MLflow's lands in the working directory either way
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    store = tmp_path / "artifacts"
    config = validate_config(tracked({"mlflow": {"tracking_uri": uri, "artifact_location": str(store)}}))
    run = start_run(config, run_dir=tmp_path / "runs" / "r1").run_dir
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("coin")
    assert experiment is not None
    [found] = client.search_runs([experiment.experiment_id])
    assert found.info.run_id == json.loads((run / "trackers.json").read_text())["mlflow"]["run_id"]
    assert found.info.status == "FINISHED" and found.info.run_name == "runs/r1"
    assert found.data.params["algo.name"] == "PPO" and found.data.params["total_timesteps"] == "512"
    assert found.data.params["env.id"] == "HlynrTest/Coin-v0"
    assert found.data.tags["hlynr.group"] == "coin" and found.data.tags["hlynr.status"] == "completed"
    history = client.get_metric_history(found.info.run_id, "rollout/ep_reward_mean")
    assert sorted(m.step for m in history) == rollout_steps(run)
    assert [m.step for m in client.get_metric_history(found.info.run_id, "eval/success_rate")] == [128, 256, 384, 512]
    assert "best/success_rate" in found.data.metrics and "final/mean_reward" in found.data.metrics
    artifacts = {a.path for a in client.list_artifacts(found.info.run_id)}
    assert {"config.yaml", "summary.json", "best", "final"} <= artifacts
    assert "best/model.zip" in {a.path for a in client.list_artifacts(found.info.run_id, "best")}
    assert list(store.rglob("config.yaml")) and not (tmp_path / "mlruns").exists()

    result = resume_run(run, total_timesteps=768)  # continues the same MLflow run
    assert result.timesteps == 768
    [again] = client.search_runs([experiment.experiment_id])
    assert again.info.run_id == found.info.run_id and again.info.status == "FINISHED"
    steps = sorted(m.step for m in client.get_metric_history(found.info.run_id, "rollout/ep_reward_mean"))
    assert steps == rollout_steps(run) and steps[-1] == 768


# --- Weights & Biases (offline) ----------------------------------------------------------------

def wandb_records(path: Path) -> list[Any]:
    """The protobuf records of a ``run-<id>.wandb`` file: W&B's LevelDB-style log (a 7-byte
    header, then 32 KiB blocks of records with a 7-byte header: CRC, length, type)."""
    from wandb.proto import wandb_internal_pb2 as pb

    data = path.read_bytes()
    assert data[:4] == b":W&B"
    out, pos, chunk = [], 7, b""
    block = 32768
    while pos + 7 <= len(data):
        left = block - pos % block
        if left < 7:  # block trailer
            pos += left
            continue
        length, kind = struct.unpack("<HB", data[pos + 4:pos + 7])
        if length == 0 and kind == 0:
            pos += left
            continue
        chunk += data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):  # full, last
            rec = pb.Record()
            rec.ParseFromString(chunk)
            out.append(rec)
            chunk = b""
    return out


def _items(updates: Any) -> dict[str, Any]:
    return {u.key or "/".join(u.nested_key): json.loads(u.value_json) for u in updates}


def _wandb_run(folder: Path) -> dict[str, Any]:
    """What an offline run folder holds, once wandb's service has written it to the end (its
    ``exit`` record: ``run.finish()`` may return before the service has flushed the file)."""
    import time

    deadline = time.monotonic() + 60
    while True:
        records = wandb_records(next(folder.glob("run-*.wandb")))
        if any(r.WhichOneof("record_type") == "exit" for r in records) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    out: dict[str, Any] = {"history": [], "summary": {}, "config": {}}
    for rec in records:
        kind = rec.WhichOneof("record_type")
        if kind == "run":
            out.update(id=rec.run.run_id, group=rec.run.run_group, name=rec.run.display_name,
                       project=rec.run.project)
            out["config"].update(_items(rec.run.config.update))
        elif kind == "config":
            out["config"].update(_items(rec.config.update))
        elif kind == "history":
            out["history"].append(_items(rec.history.item))
        elif kind == "summary":
            out["summary"].update(_items(rec.summary.update))
    return out


def test_wandb_offline_run_and_resume(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    config = validate_config(tracked({"wandb": {"project": "hlynr-test", "group": "g1", "tags": ["t"]}}))
    run = start_run(config, run_dir=tmp_path / "r1").run_dir
    run_id = json.loads((run / "trackers.json").read_text())["wandb"]["id"]
    [first] = sorted((run / "wandb").glob("offline-run-*"))
    got = _wandb_run(first)
    assert got["id"] == run_id and got["group"] == "g1" and got["name"] == f"{tmp_path.name}/r1"
    assert got["project"] == "hlynr-test"
    assert got["config"]["algo.name"] == "PPO" and got["config"]["total_timesteps"] == 512
    rows = [h for h in got["history"] if "rollout/ep_reward_mean" in h]
    assert [h["timesteps"] for h in rows] == rollout_steps(run)
    evals = [h["eval/success_rate"] for h in got["history"] if "eval/success_rate" in h]
    assert len(evals) == 4
    assert got["summary"]["final/success_rate"] == pytest.approx(evals[-1])
    assert got["summary"]["best/success_rate"] == pytest.approx(max(evals))
    assert got["summary"]["status"] == "completed"

    resume_run(run, total_timesteps=768)
    folders = sorted((run / "wandb").glob("offline-run-*"))
    assert len(folders) == 2  # offline: one folder per session; `wandb sync` merges them by id
    again = _wandb_run(folders[-1])
    assert again["id"] == run_id
    assert [h["timesteps"] for h in again["history"] if "rollout/ep_reward_mean" in h] == [576, 640, 704, 768]
