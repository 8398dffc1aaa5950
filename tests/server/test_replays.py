"""A run's replays through the dashboard API: recorded by a real ``hlynr replay`` process on a tiny
trained run (and the ``replay`` callback's, listed beside them), states read back by a restarted
server, one recording at a time, and files served only from inside the run's replays folder."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from hlynr.server import create_app
from hlynr.server.launch import Launch
from tests.server.conftest import wait_for
from tests.server.test_api import JSON, TOKEN, fake_run

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 32
INTERCEPT = {"name": "tiny_intercept", "seed": 0, "total_timesteps": 128,
             "env": {"id": "hlynr/Intercept-v0", "vectoriser": "batched", "n_envs": 2,
                     "kwargs": {"max_time": 2.0}},
             "algo": {"name": "PPO", "hyperparams": {"n_steps": 32, "batch_size": 64, "n_epochs": 1},
                      "policy_kwargs": {"net_arch": [8]}},
             "callbacks": [{"evaluation": {"every": 64, "episodes": 1}}, {"replay": {"format": "gif"}}]}
"""Two evaluations (64, 128 timesteps), each drawn by the replay callback; episodes of 40 steps."""


def client(runs: Path, **kw: Any) -> TestClient:
    configs = runs.parent / "configs"
    configs.mkdir(exist_ok=True)
    return TestClient(create_app(runs, configs, **kw))


def replayable_run(runs: Path, run_id: str) -> Path:
    """A synthetic intercept run (batched) with a final model folder that looks complete."""
    folder = fake_run(runs, run_id)
    (folder / "config.yaml").write_text(yaml.safe_dump(INTERCEPT))
    (folder / "final").mkdir()
    (folder / "final" / "model.zip").write_bytes(b"")
    (folder / "final" / "meta.json").write_text("{}")
    return folder


def fake_recorder(c: TestClient, script: str) -> list[Launch]:
    """Make the app's launcher record replays with ``python -c script OUT`` instead of
    ``hlynr replay`` (same folder, log and process handling)."""
    launcher = c.app.state.launcher
    started: list[Launch] = []

    def replay(run_id: str, run_dir: Path, which: str, out: Path) -> Launch:
        with open(out / "replay.log", "ab") as log:
            proc = subprocess.Popen([sys.executable, "-c", script, str(out)], stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        launch = Launch(run_id, "replay", proc, out / "replay.log")
        launcher.launches.append(launch)
        started.append(launch)
        return launch

    launcher.replay = replay
    return started


@pytest.fixture(scope="module")
def intercept_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished tiny intercept run whose replay callback drew both evaluations."""
    from hlynr.config import validate_config
    from hlynr.training.runner import start_run

    runs = tmp_path_factory.mktemp("runs")
    return start_run(validate_config(INTERCEPT), runs_dir=runs).run_dir


@pytest.mark.slow
def test_a_replay_is_recorded_by_hlynr_replay_and_listed_with_the_evaluation_replays(
        intercept_run: Path) -> None:
    runs = intercept_run.parents[1]
    rid = intercept_run.relative_to(runs).as_posix()
    c = client(runs)
    listed = c.get(f"/api/runs/{rid}/replays").json()
    assert listed["recordable"] and listed["which"] == "final"  # no best_model: the final model
    assert [(r["id"], r["kind"], r["status"], r["timesteps"]) for r in listed["replays"]] == [
        ("eval_128", "evaluation", "done", 128), ("eval_64", "evaluation", "done", 64)]
    assert [f["name"] for f in listed["replays"][0]["files"]] == [
        "episode_1000003.gif", "episode_1000003.png"]
    assert listed["replays"][0]["files"][1]["outcome"].startswith("FAILURE")

    r = c.post(f"/api/runs/{rid}/replays", json={})
    assert r.status_code == 202, r.text
    replay_id = r.json()["replay"]
    assert r.json()["which"] == "final"
    try:
        again = c.post(f"/api/runs/{rid}/replays", json={})
        assert again.status_code == 409 and "being recorded" in again.json()["error"]
        view = wait_for(lambda: next(v for v in c.get(f"/api/runs/{rid}/replays").json()["replays"]
                                     if v["id"] == replay_id) if _done(c, rid, replay_id) else None,
                        timeout=180, what="the replay to be recorded")
    finally:
        for launch in c.app.state.launcher.launches:
            if launch.process.poll() is None:
                launch.process.kill()
            launch.process.wait(timeout=30)
    assert view["status"] == "done" and view["kind"] == "dashboard" and view["which"] == "final", view
    assert [(f["name"], f["type"]) for f in view["files"]] == [("episode_0.mp4", "video"),
                                                               ("episode_0.png", "image")]
    assert view["files"][1]["outcome"].startswith("final: FAILURE")  # what hlynr replay printed
    folder = intercept_run / "replays" / replay_id
    assert "wrote 2 files" in (folder / "replay.log").read_text()
    got = c.get(f"/api/runs/{rid}/replays/{replay_id}/episode_0.mp4")
    assert got.status_code == 200 and got.headers["content-type"] == "video/mp4"
    assert got.content == (folder / "episode_0.mp4").read_bytes()
    assert c.get(f"/api/runs/{rid}/replays/eval_64/episode_1000003.gif").headers[
        "content-type"] == "image/gif"
    assert json.loads((folder / "replay.json").read_text())["returncode"] == 0
    restarted = client(runs)  # a new server reads the same state from the folder
    assert next(v for v in restarted.get(f"/api/runs/{rid}/replays").json()["replays"]
                if v["id"] == replay_id)["status"] == "done"


def _done(c: TestClient, rid: str, replay_id: str) -> bool:
    views = c.get(f"/api/runs/{rid}/replays").json()["replays"]
    return any(v["id"] == replay_id and v["status"] != "recording" for v in views)


def test_one_recording_at_a_time_and_a_failure_shows_the_last_line(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    folder = replayable_run(runs, "tiny/a")
    c = client(runs)
    started = fake_recorder(c, "import pathlib, sys, time\n"
                               "time.sleep(float(open(sys.argv[1] + '/../wait').read()))\n"
                               "pathlib.Path(sys.argv[1], 'episode_0.png').write_bytes(b'png')\n"
                               "print('wrote 1 files')")
    (folder / "replays").mkdir()
    (folder / "replays" / "wait").write_text("30")
    r = c.post("/api/runs/tiny/a/replays", json={})
    assert r.status_code == 202, r.text
    first = r.json()["replay"]
    assert c.post("/api/runs/tiny/a/replays", json={}).status_code == 409
    assert c.get("/api/runs/tiny/a/replays").json()["replays"][0]["status"] == "recording"
    # a restarted server sees the process recording (its pid is in replay.json) and refuses too
    other = client(runs)
    assert other.get("/api/runs/tiny/a/replays").json()["replays"][0]["status"] == "recording"
    assert other.post("/api/runs/tiny/a/replays", json={}).status_code == 409
    started[0].process.kill()
    started[0].process.wait()
    view = c.get("/api/runs/tiny/a/replays").json()["replays"][0]
    assert view["status"] == "failed" and view["id"] == first
    (folder / "replays" / "wait").write_text("0")
    r = c.post("/api/runs/tiny/a/replays", json={})
    assert r.status_code == 202 and r.json()["replay"] != first
    second = r.json()["replay"]
    wait_for(lambda: started[1].process.poll() is not None, what="the fake recording")
    views = {v["id"]: v for v in c.get("/api/runs/tiny/a/replays").json()["replays"]}
    assert views[second]["status"] == "done" and views[second]["files"][0]["name"] == "episode_0.png"
    assert client(runs).get("/api/runs/tiny/a/replays").json()["replays"][0]["status"] == "done"
    (folder / "replays" / f"{second}-fail").mkdir()  # a failing one: exit 2 and an error line
    (folder / "replays" / f"{second}-fail" / "replay.json").write_text(
        json.dumps({"kind": "dashboard", "which": "final", "created": 1e10, "returncode": 2}))
    (folder / "replays" / f"{second}-fail" / "replay.log").write_text("error: no such model\n")
    view = c.get("/api/runs/tiny/a/replays").json()["replays"][0]
    assert (view["status"], view["message"]) == ("failed", "error: no such model")


def test_runs_that_cannot_be_replayed_say_why(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    fake_run(runs, "tiny/cartpole")  # CartPole: no renderer
    replayable_run(runs, "tiny/nomodel")
    for part in ("model.zip", "meta.json"):
        (runs / "tiny" / "nomodel" / "final" / part).unlink()
    dummy = replayable_run(runs, "tiny/dummy")
    cfg = {**INTERCEPT, "env": {**INTERCEPT["env"], "vectoriser": "dummy"}}
    (dummy / "config.yaml").write_text(yaml.safe_dump(cfg))
    c = client(runs)
    for rid, why in (("tiny/cartpole", "CartPole-v1 has no renderer"),
                     ("tiny/nomodel", "no saved model"), ("tiny/dummy", "batched VecEnv")):
        listed = c.get(f"/api/runs/{rid}/replays").json()
        assert not listed["recordable"] and why in listed["reason"] and listed["replays"] == []
        r = c.post(f"/api/runs/{rid}/replays", json={})
        assert r.status_code == 409 and why in r.json()["error"], (rid, r.text)
        assert not (runs / rid / "replays").exists()
    assert c.post("/api/runs/tiny/nope/replays", json={}).status_code == 404
    assert c.app.state.launcher.launches == []


def test_replay_posts_need_the_token_and_a_json_body(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    replayable_run(runs, "tiny/a")
    c = client(runs, token=TOKEN, allowed_hosts=["testserver"])
    assert c.post("/api/runs/tiny/a/replays", headers=JSON, content="{}").status_code == 401
    assert c.post("/api/runs/tiny/a/replays", headers={"x-hlynr-token": TOKEN},
                  content="a=1").status_code == 415
    assert c.get("/api/runs/tiny/a/replays").status_code == 401
    assert c.post("/api/runs/tiny/a/replays", headers={**JSON, "host": "evil.example",
                                                        "x-hlynr-token": TOKEN}).status_code == 400
    assert c.app.state.launcher.launches == []
    assert c.get("/api/runs/tiny/a/replays", params={"token": TOKEN}).json()["recordable"]


def test_files_are_served_only_from_inside_the_runs_replays_folder(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    folder = fake_run(runs, "tiny/a")
    replay = folder / "replays" / "x"
    replay.mkdir(parents=True)
    (replay / "episode_0.png").write_bytes(PNG)
    (replay / "replay.json").write_text("{}")
    (replay / "replay.log").write_text("secret log")
    (replay / ".episode_1.partial.png").write_bytes(PNG)
    (folder / "secret.png").write_bytes(PNG)  # in the run, not in its replays
    (folder / "final").mkdir()
    (folder / "final" / "meta.png").write_bytes(PNG)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "o.png").write_bytes(PNG)
    (folder / "replays" / "link").symlink_to(outside, target_is_directory=True)
    (replay / "evil.png").symlink_to(folder / "secret.png")
    (replay / "far.png").symlink_to(outside / "o.png")
    other = fake_run(runs, "tiny/b")
    (other / "replays" / "y").mkdir(parents=True)
    (other / "replays" / "y" / "b.png").write_bytes(PNG)
    c = client(runs)
    ok = c.get("/api/runs/tiny/a/replays/x/episode_0.png")
    assert ok.status_code == 200 and ok.content == PNG and ok.headers["content-type"] == "image/png"
    bad = ["x/replay.json", "x/replay.log", "x/.episode_1.partial.png", "x/evil.png", "x/far.png",
           "link/o.png", "%2E%2E/secret.png", "..%2F..%2Ffinal/meta.png", "x/..%2F..%2Fsecret.png",
           "x/%2E%2E%2F%2E%2E%2Fsecret.png", "..%2Fx/episode_0.png", "x/%2Fetc%2Fpasswd",
           "..%2F..%2F..%2Fb%2Freplays%2Fy/b.png", "x/nope.png", "x/episode_0.png%00.png"]
    for path in bad:
        r = c.get(f"/api/runs/tiny/a/replays/{path}")
        assert r.status_code == 404 and r.content != PNG, (path, r.status_code)
    for rid in ("tiny/..%2Fb", "tiny/.%2Fa", "..%2Ftiny%2Fa"):
        assert c.get(f"/api/runs/{rid}/replays/x/episode_0.png").status_code == 404, rid
    assert [v["id"] for v in c.get("/api/runs/tiny/a/replays").json()["replays"]] == ["x"]
    assert [f["name"] for f in c.get("/api/runs/tiny/a/replays").json()["replays"][0]["files"]] == [
        "episode_0.png"]  # links are neither listed nor served
