"""The dashboard API with an in-process client: synthetic logs, security, and real short runs."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from hlynr.runs import control
from hlynr.runs.lock import holder
from hlynr.runs.progress_log import ProgressLog
from hlynr.server import create_app
from hlynr.server.runs import LogTail
from hlynr.server.series import downsample
from tests.server.conftest import REPO, TINY, hlynr, wait_for

TOKEN = "s3cret-token-for-tests"
JSON = {"content-type": "application/json"}


def fake_run(runs: Path, run_id: str, n: int = 10, end: str | None = "completed") -> Path:
    """A run folder with ``n`` rollout records, an evaluation every 5 and an end record."""
    folder = runs / run_id
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(TINY))
    log = ProgressLog(folder / "progress.jsonl")
    log.write("event", timesteps=0, event="start")
    for i in range(1, n + 1):
        log.write("rollout", timesteps=100 * i, total_timesteps=100 * n, steps_per_s=1000.0,
                  ep_reward_mean=float(i), success_rate=0.5, ent_coef=0.0, learning_rate=3e-4,
                  stage=None, losses={"value_loss": 1.0 / i}, ep_rewards=[i - 0.5, i + 0.5])
        if i % 5 == 0:
            log.write("eval", timesteps=100 * i, eval_mean_reward=float(i), eval_success_rate=0.6,
                      eval_success_ci_low=0.4, eval_success_ci_high=0.8)
    if end:
        log.write("event", timesteps=100 * n, event="end", status=end, reason="test")
    return folder


def client(runs: Path, configs: Path, **kw) -> TestClient:
    return TestClient(create_app(runs, configs, **kw))


def test_log_tail_reads_appends_skips_partial_lines_and_notices_rewrites(tmp_path: Path) -> None:
    path = tmp_path / "progress.jsonl"
    path.write_text('{"type":"event","event":"start","timesteps":0}\n'
                    '{"type":"rollout","timesteps":1}\n{"type":"eval","timesteps":1}\n{"type":"roll')
    tail = LogTail(path)
    assert tail.refresh() and tail.count == 3 and len(tail.evals) == 1
    with path.open("a") as fh:
        fh.write('out","timesteps":2}\n')
    assert tail.refresh() and tail.count == 4
    assert [r["timesteps"] for r in tail.read(1, 10)] == [1, 1, 2]
    assert not tail.refresh()  # nothing new
    tmp = tmp_path / "x.tmp"  # what a resume's log truncation does: a new file renamed over it
    tmp.write_text('{"type":"event","event":"start","timesteps":0}\n')
    os.replace(tmp, path)
    assert tail.refresh() and tail.epoch == 1 and tail.count == 1


def test_downsampling_keeps_every_spike_and_dip() -> None:
    rng = np.random.default_rng(0)
    x = np.arange(100_000, dtype=float)
    y = rng.normal(size=x.size)
    y[54_321], y[77_777] = 50.0, -40.0
    xs, ys = downsample(x, y, 500)
    assert len(xs) <= 1002 and np.all(np.diff(xs) > 0)
    assert 50.0 in ys and -40.0 in ys and xs[0] == 0 and xs[-1] == 99_999
    assert ys.max() == y.max() and ys.min() == y.min()


def test_runs_summary_config_metrics_and_series(tmp_path: Path) -> None:
    runs, configs = tmp_path / "runs", tmp_path / "configs"
    configs.mkdir()
    fake_run(runs, "tiny/a", n=20)
    fake_run(runs, "tiny/b", n=3, end=None)  # no end record and no process: it died
    c = client(runs, configs)
    views = {r["id"]: r for r in c.get("/api/runs").json()["runs"]}
    assert views["tiny/a"]["status"] == "completed" and views["tiny/a"]["timesteps"] == 2000
    assert views["tiny/a"]["latest_eval"]["eval_success_rate"] == 0.6
    assert views["tiny/a"]["best_eval"]["timesteps"] == 500  # the first of equal successes
    assert views["tiny/b"]["status"] == "crashed"
    assert any(a["kind"] == "not_writing" for a in views["tiny/b"]["alerts"])
    assert c.get("/api/runs/tiny/a/config").json()["config"]["name"] == "tiny"
    m = c.get("/api/runs/tiny/a/metrics", params={"since": 3, "limit": 2}).json()
    assert m["since"] == 3 and m["next"] == 5 and [r["timesteps"] for r in m["records"]] == [300, 400]
    s = c.get("/api/runs/tiny/a/series", params={"points": 10}).json()
    assert s["next"] == m["count"]
    raw_x, raw_y = s["series"]["reward.raw"]
    assert len(raw_x) <= 22 and max(raw_y) == 20.5 and min(raw_y) == 0.5
    assert s["series"]["success.eval_hi"][1][0] == 0.8
    assert c.get("/api/runs/tiny/nope/summary").status_code == 404


def test_per_stage_success_of_training_and_evaluations_are_series_by_stage_name() -> None:
    from hlynr.server.series import SeriesBuilder

    b = SeriesBuilder()
    b.add({"type": "rollout", "timesteps": 100, "success_rate": 0.5,
           "stage_success": {"easy": 0.9, "hard": 0.1}})
    b.add({"type": "eval", "timesteps": 100, "eval_success_rate": 0.55,
           "eval_stages": {"easy": {"success_rate": 1.0, "los_events": 0.0},
                           "hard": {"success_rate": 0.1}}})
    b.add({"type": "eval", "timesteps": 200, "eval_success_rate": 0.6})  # one stage: nothing more
    got = b.export()
    assert got["success.stage.train.easy"] == [[100.0], [0.9]]
    assert got["success.stage.train.hard"] == [[100.0], [0.1]]
    assert got["success.stage.eval.easy"] == [[100.0], [1.0]]
    assert got["success.stage.eval.hard"] == [[100.0], [0.1]]
    assert got["success.eval"] == [[100.0, 200.0], [0.55, 0.6]]
    assert not any("los" in k for k in got)


def test_control_endpoints_refuse_runs_nobody_trains(tmp_path: Path) -> None:
    runs, configs = tmp_path / "runs", tmp_path / "configs"
    configs.mkdir()
    folder = fake_run(runs, "tiny/a")
    c = client(runs, configs)
    for action in ("save", "stop"):
        r = c.post(f"/api/runs/tiny/a/{action}", json={})
        assert r.status_code == 409 and "not running" in r.json()["error"]
    assert not (folder / "control").exists()  # nothing written into the run
    r = c.post("/api/runs/tiny/a/resume", json={})
    assert r.status_code == 409  # completed, and no checkpoint


def test_run_ids_and_config_paths_cannot_leave_their_folders(tmp_path: Path) -> None:
    runs, configs = tmp_path / "runs", tmp_path / "configs"
    configs.mkdir()
    fake_run(runs, "tiny/a")
    outside = fake_run(tmp_path / "elsewhere", "x/y")
    (runs / "tiny" / "link").symlink_to(outside, target_is_directory=True)
    (tmp_path / "outside.yaml").write_text(yaml.safe_dump(TINY))
    (configs / "link.yaml").symlink_to(tmp_path / "outside.yaml")
    c = client(runs, configs)
    assert [r["id"] for r in c.get("/api/runs").json()["runs"]] == ["tiny/a"]
    for rid in ("..%2Felsewhere%2Fx%2Fy", "tiny/..%2F..%2Felsewhere%2Fx%2Fy", "tiny/link",
                "%2Fetc", ".%2Ftiny%2Fa", "tiny/.hidden"):
        for what in ("summary", "config", "metrics"):
            r = c.get(f"/api/runs/{rid}/{what}")
            assert r.status_code == 404, (rid, what, r.status_code)
    for cfg in ("../outside.yaml", "/etc/passwd", "classic/../../outside.yaml", "link.yaml",
                "..", "", "tiny.txt"):
        r = c.post("/api/start", json={"config": cfg})
        assert r.status_code == 404, (cfg, r.text)
    assert c.app.state.launcher.launches == []


def test_token_json_bodies_host_and_origin_checks_and_no_cors(tmp_path: Path) -> None:
    runs, configs = tmp_path / "runs", tmp_path / "configs"
    configs.mkdir()
    fake_run(runs, "tiny/a")
    c = client(runs, configs, token=TOKEN, allowed_hosts=["testserver"])
    assert c.get("/api/health").json()["token_required"] is True
    assert c.get("/api/runs").status_code == 401
    assert c.get("/api/runs", headers={"x-hlynr-token": "wrong"}).status_code == 401
    assert c.get("/api/runs", headers={"x-hlynr-token": TOKEN}).status_code == 200
    assert c.get("/api/runs", params={"token": TOKEN}).status_code == 200
    assert c.post("/api/runs/tiny/a/stop", headers=JSON, content="{}").status_code == 401
    r = c.post("/api/runs/tiny/a/stop", headers={"x-hlynr-token": TOKEN},
               content="a=1", )  # a form-style body: what a cross-site form could send
    assert r.status_code == 415
    with pytest.raises(WebSocketDisconnect):
        with c.websocket_connect("/ws/runs") as ws:
            ws.receive_json()
    with c.websocket_connect(f"/ws/runs?token={TOKEN}") as ws:
        assert ws.receive_json()["type"] == "runs"
    with pytest.raises(WebSocketDisconnect):
        with c.websocket_connect(f"/ws/runs?token={TOKEN}",
                                 headers={"origin": "http://evil.example"}) as ws:
            ws.receive_json()
    assert c.get("/api/health", headers={"host": "evil.example"}).status_code == 400
    r = c.options("/api/runs", headers={"origin": "http://evil.example",
                                        "access-control-request-method": "GET"})
    assert "access-control-allow-origin" not in r.headers
    r = c.get("/api/health", headers={"origin": "http://evil.example"})
    assert "access-control-allow-origin" not in r.headers


@pytest.mark.slow
def test_a_bad_override_is_a_400_with_the_clis_own_message(tmp_path: Path, configs_dir: Path) -> None:
    c = client(tmp_path / "runs", configs_dir)
    bad = "algo.hyperparams.n_stepz=3"
    r = c.post("/api/start", json={"config": "tiny.yaml", "overrides": [bad]})
    assert r.status_code == 400
    cli = hlynr("train", "--config", str(configs_dir / "tiny.yaml"), "--set", bad, "--check")
    assert cli.returncode == 2
    assert cli.stderr.strip() == f"error: {r.json()['error']}".strip()
    assert c.app.state.launcher.launches == []
    r = c.post("/api/start", json={"config": "tiny.yaml", "overrides": ["gamma=1.5"]})
    assert r.status_code == 400 and "gamma" in r.json()["error"]


def test_a_config_that_starts_from_a_zoo_entry_is_started(
        tmp_path: Path, configs_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A ``zoo:`` key (docs/zoo.md) is read by the dashboard's Start as by ``train.py``."""
    (configs_dir / "hyperparams").mkdir()
    (configs_dir / "hyperparams" / "ppo.yml").write_text(
        (REPO / "benchmarks" / "zoo_hyperparams" / "ppo.yml").read_text())
    (configs_dir / "zoo.yaml").write_text("zoo: {file: hyperparams/ppo.yml, env: CartPole-v1}\n"
                                          "name: from_zoo\ntotal_timesteps: 2000\n")
    c = client(tmp_path / "runs", configs_dir)
    started = []

    def start(run_id: str, run_dir: Path, config: Path, overrides: list[str]) -> SimpleNamespace:
        started.append((run_id, config.name, overrides))
        return SimpleNamespace(process=SimpleNamespace(pid=4242))

    monkeypatch.setattr(c.app.state.launcher, "start", start)
    r = c.post("/api/start", json={"config": "zoo.yaml", "overrides": ["seed=2"]})
    assert r.status_code == 201, r.json()
    assert r.json()["run"].startswith("from_zoo/") and r.json()["pid"] == 4242
    assert [(name, o) for _, name, o in started] == [("zoo.yaml", ["seed=2"])]
    r = c.post("/api/start", json={"config": "zoo.yaml", "overrides": ["algo.hyperparams.n_epoch=3"]})
    assert r.status_code == 400 and "did you mean 'n_epochs'" in r.json()["error"]


def _records_via_ws(c: TestClient, rid: str, since: int, at_least: int) -> dict:
    got: list[dict] = []
    ma: list[tuple[float, float]] = []
    first = None
    with c.websocket_connect(f"/ws/runs/{rid}?since={since}") as ws:
        while len(got) < at_least:
            msg = ws.receive_json()
            if msg["type"] == "records":
                first = msg if first is None else first
                got.extend(msg["records"])
                ma.extend(zip(*msg["points"].get("reward.ma", [[], []])))
    return {"first": first, "records": got, "ma": ma}


@pytest.mark.slow
def test_start_stream_save_stop_resume_against_a_real_run(tmp_path: Path, configs_dir: Path) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()
    c = client(runs, configs_dir)
    assert c.get("/api/configs").json()["configs"] == ["classic/short.yaml", "tiny.yaml"]
    r = c.post("/api/start", json={"config": "tiny.yaml", "overrides": ["seed=3"]})
    assert r.status_code == 201, r.text
    rid, pid = r.json()["run"], r.json()["pid"]
    folder = runs / rid
    try:
        wait_for(lambda: holder(folder) == pid, what="the started run to lock its folder")
        view = wait_for(lambda: (v := c.get(f"/api/runs/{rid}").json())["records"] >= 6 and v,
                        what="records")
        assert view["status"] == "running" and view["pid"] == pid
        assert yaml.safe_load((folder / "config.yaml").read_text())["seed"] == 3
        # the stream starts at the resume point and carries exactly the logged records
        live = _records_via_ws(c, rid, since=0, at_least=6)
        again = _records_via_ws(c, rid, since=3, at_least=3)
        assert again["first"]["since"] == 3 and again["records"][:3] == live["records"][3:6]
        assert live["ma"] == [(r["timesteps"], r["ep_reward_mean"]) for r in live["records"]
                              if r["type"] == "rollout" and r["ep_reward_mean"] is not None]
        assert live["ma"]  # CartPole episodes end within the first records
        # save: a checkpoint appears and the run goes on
        req = c.post(f"/api/runs/{rid}/save", json={}).json()["request"]
        ack = wait_for(lambda: (a := c.get(f"/api/runs/{rid}/control/{req}").json())["status"]
                       != "pending" and a, what="the save answer")
        assert ack["status"] == "done" and (folder / ack["checkpoint"] / "model.zip").is_file()
        assert c.get(f"/api/runs/{rid}").json()["status"] == "running"
        # two servers on one folder, and a restarted one, agree
        other = client(runs, configs_dir)
        a = {k: v for k, v in c.get(f"/api/runs/{rid}/summary").json().items() if k != "mtime"}
        b = {k: v for k, v in other.get(f"/api/runs/{rid}/summary").json().items() if k != "mtime"}
        assert a["status"] == b["status"] == "running" and a["pid"] == b["pid"] == pid
        # stop: checkpoint, then the run ends "stopped"
        req = other.post(f"/api/runs/{rid}/stop", json={}).json()["request"]
        ack = wait_for(lambda: (a := c.get(f"/api/runs/{rid}/control/{req}").json())["status"]
                       != "pending" and a, what="the stop answer")
        assert ack["status"] == "done" and (folder / ack["checkpoint"] / "model.zip").is_file()
        view = wait_for(lambda: (v := c.get(f"/api/runs/{rid}").json())["pid"] is None and v,
                        what="the process to end")
        assert view["status"] == "stopped" and view["resumable"]
        assert json.loads((folder / "summary.json").read_text())["status"] == "stopped"
        stopped_at = view["timesteps"]
        restarted = client(runs, configs_dir)
        assert restarted.get(f"/api/runs/{rid}").json()["status"] == "stopped"
        # resume: a new training process continues the run
        r = restarted.post(f"/api/runs/{rid}/resume", json={})
        assert r.status_code == 202, r.text
        new_pid = r.json()["pid"]
        wait_for(lambda: holder(folder) == new_pid, what="the resumed run to lock its folder")
        wait_for(lambda: c.get(f"/api/runs/{rid}").json()["timesteps"] > stopped_at + 256,
                 what="the resumed run to go on")
        assert c.post(f"/api/runs/{rid}/resume", json={}).status_code == 409  # already running
        req = c.post(f"/api/runs/{rid}/stop", json={}).json()["request"]
        wait_for(lambda: control.read_ack(folder, req), what="the second stop answer")
        wait_for(lambda: holder(folder) is None, what="the resumed run to end")
        assert c.get(f"/api/runs/{rid}").json()["status"] == "stopped"
    finally:
        for launch in c.app.state.launcher.launches:
            if launch.process.poll() is None:
                launch.process.kill()
            launch.process.wait(timeout=30)


def test_serve_on_another_address_generates_a_token_and_requires_it(
        tmp_path: Path, configs_dir: Path, monkeypatch, capsys) -> None:
    import uvicorn

    from hlynr.cli import serve

    runs = tmp_path / "runs"
    fake_run(runs, "tiny/a")
    seen: dict = {}

    def run(server: uvicorn.Server, sockets: list) -> None:
        seen.update(app=server.config.app, host=server.config.host, sockets=sockets)
        server.started = True

    monkeypatch.setattr(uvicorn.Server, "run", run)
    monkeypatch.setattr(serve, "listen_socket", lambda host, port: socket.socket())  # binds nothing
    assert serve.main(["--runs-dir", str(runs), "--configs-dir", str(configs_dir),
                       "--host", "0.0.0.0", "--port", "9999"]) == 0
    out = capsys.readouterr().out
    token = out.split("token: ")[1].split()[0]
    assert len(token) >= 16 and f"#token={token}" in out and seen["host"] == "0.0.0.0"
    c = TestClient(seen["app"])
    assert c.get("/api/runs").status_code == 401
    assert c.get("/api/runs", headers={"x-hlynr-token": token}).status_code == 200
    seen.clear()
    serve.main(["--runs-dir", str(runs), "--configs-dir", str(configs_dir)])  # loopback
    assert seen["host"] == "127.0.0.1"
    assert TestClient(seen["app"], base_url="http://127.0.0.1:8765").get("/api/runs").status_code == 200
    assert TestClient(seen["app"], base_url="http://evil.example").get("/api/runs").status_code == 400


def test_serve_on_a_port_in_use_is_one_error_line_before_any_announcement(
        tmp_path: Path, configs_dir: Path) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()
    with socket.socket() as held:  # another program listening on the port
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        r = hlynr("serve", "--runs-dir", str(runs), "--configs-dir", str(configs_dir),
                  "--port", str(port), timeout=120)
    assert r.returncode == 2, r.stderr
    assert r.stdout == ""  # no "hlynr dashboard on ..." for a server that never ran
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: port {port} on 127.0.0.1 is in use: "), r.stderr


def test_monitor_training_serve_reports_bad_folders_as_one_error_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.server.conftest import ENV, REPO

    r = subprocess.run([sys.executable, "monitor_training.py", "--serve", "--runs-dir",
                        str(tmp_path / "nope")], cwd=REPO, env=ENV, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [f"error: --runs-dir {tmp_path / 'nope'}: no such folder"]
