"""Benchmark: the cost of watching a run in the dashboard, and how fast the page shows a record.

    python benchmarks/bench_dashboard.py            # about 3-5 minutes on 2 cores
    python benchmarks/bench_dashboard.py --quick    # shorter trainings, fewer samples

1. **Overhead**: the same CartPole PPO training (``hlynr train`` subprocess, 8 envs, a progress
   record every 256 steps) runs in alternating rounds without and with the dashboard open on it in
   headless Chromium (``hlynr serve`` + the page streaming the run over its WebSocket). It prints
   training steps/s (timesteps / training wall time from ``summary.json``) of both and the ratio.
   Target: under 2 % slower.
2. **Latency**: records appended to a run's ``progress.jsonl`` (the run's lock held by this
   process, as a trainer would) and the moment the page has drawn them (``window.hlynrDraws``,
   stamped two animation frames after the chart update). Target: under 1 s.
3. **Scale**: 100 runs (one of ``--big`` records, the others 2,000): time of the run list, of a
   big run's downsampled series, and for the page to list all runs and draw the big run.

The server runs in its own process on a free loopback port; Chromium and chromedriver are
Debian's (``apt-get install chromium chromium-driver``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
       "OMP_NUM_THREADS": "1"}
TRAIN = {"name": "bench", "seed": 0, "torch_threads": 1, "env": {"id": "CartPole-v1", "n_envs": 8},
         "algo": {"name": "PPO", "hyperparams": {"n_steps": 32, "batch_size": 256, "n_epochs": 4},
                  "policy_kwargs": {"net_arch": [64, 64]}},
         "callbacks": []}


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(cond: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.02)
    raise SystemExit(f"timed out waiting for {what}")


def _tree_cpu(root: int) -> float:
    """CPU seconds (user + system) used so far by process ``root`` and its descendants."""
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(") ", 1)[1].split()
        except OSError:
            continue
        parents[int(entry)] = int(fields[1])
        cpu[int(entry)] = (int(fields[11]) + int(fields[12])) / tick
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        total += cpu.get(pid, 0.0)
        todo.extend(c for c, parent in parents.items() if parent == pid)
    return total


def _browser() -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1400,1000"):
        options.add_argument(arg)
    return webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))


class Server:
    """``hlynr serve`` in a subprocess."""

    def __init__(self, runs: Path, configs: Path) -> None:
        self.port = _port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hlynr", "serve", "--runs-dir", str(runs), "--configs-dir",
             str(configs), "--port", str(self.port)], cwd=REPO, env=ENV,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait(self._up, 120, "the server")

    def _up(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/api/health", timeout=2) as r:
                return bool(json.loads(r.read())["ok"])
        except OSError:
            return False

    def get(self, path: str) -> tuple[float, Any]:
        t0 = time.perf_counter()
        with urllib.request.urlopen(self.url + path, timeout=120) as r:
            body = json.loads(r.read())
        return time.perf_counter() - t0, body

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def _open_run(driver: Any, server: Server, run_id: str) -> None:
    driver.get(server.url + "/")
    row = f'tr[data-run="{run_id}"]'
    _wait(lambda: driver.find_elements("css selector", row), 60, "the run row")[0].click()
    _wait(lambda: driver.execute_script(
        "return document.querySelector('#run-title').textContent") == run_id, 30, "the run view")


def overhead(root: Path, server: Server, driver: Any, steps: int, pairs: int) -> None:
    """Alternating rounds of the same training without and with the page streaming it."""
    import yaml

    cfg = root / "configs" / "bench.yaml"
    cfg.write_text(yaml.safe_dump({**TRAIN, "total_timesteps": steps}))
    rates: dict[str, list[float]] = {"without": [], "with": []}
    train_cpu: dict[str, list[float]] = {"without": [], "with": []}  # CPU s per 1000 steps
    dash_cpu: list[float] = []  # server + browser CPU s per second of training
    for k in range(pairs):
        for mode in (("without", "with") if k % 2 == 0 else ("with", "without")):
            run_id = f"bench/{mode}-{k}"
            run = root / "runs" / run_id
            driver.get("about:blank")
            proc = subprocess.Popen([sys.executable, "-m", "hlynr", "train", "--quiet", "--config",
                                     str(cfg), "--run-dir", str(run)], cwd=REPO, env=ENV,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            browser_pid = driver.service.process.pid
            c0 = _tree_cpu(server.proc.pid) + _tree_cpu(browser_pid)
            if mode == "with":
                _wait(lambda run=run: (run / "progress.jsonl").is_file(), 120, "the run to start")
                _open_run(driver, server, run_id)
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            if proc.returncode != 0:
                raise SystemExit(f"training {run_id} failed")
            summary = json.loads((run / "summary.json").read_text())
            rates[mode].append(summary["timesteps"] / summary["wall_time"])
            train_cpu[mode].append((usage.ru_utime + usage.ru_stime) / summary["timesteps"] * 1000)
            if mode == "with":
                used = _tree_cpu(server.proc.pid) + _tree_cpu(browser_pid) - c0
                dash_cpu.append(used / summary["wall_time"])
            draws = driver.execute_script("return window.hlynrDraws ? window.hlynrDraws.length : 0") \
                if mode == "with" else 0
            print(f"  round {k} {mode:7s}: {rates[mode][-1]:8,.0f} steps/s"
                  + (f"  ({draws} live draws)" if mode == "with" else ""), flush=True)
    a, b = statistics.median(rates["without"]), statistics.median(rates["with"])
    print(f"overhead: training steps/s without the dashboard {a:,.0f}, with it open and "
          f"streaming {b:,.0f}: ratio {b / a:.3f} ({(1 - b / a) * 100:+.1f} % slower; target < 2 %)")
    ca, cb = statistics.median(train_cpu["without"]), statistics.median(train_cpu["with"])
    print(f"overhead: trainer CPU per 1000 steps without {ca:.3f} s, with {cb:.3f} s "
          f"(ratio {cb / ca:.3f}); server + browser used {statistics.median(dash_cpu):.3f} CPU s "
          f"per second of training (of {os.cpu_count()} cores)")


def latency(root: Path, server: Server, driver: Any, samples: int) -> None:
    """Time from a record appended to the log to the page having drawn it."""
    import numpy as np

    from hlynr.runs.lock import RunLock
    from hlynr.runs.progress_log import ProgressLog

    run = root / "runs" / "latency" / "run"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text("name: latency\n")
    log = ProgressLog(run / "progress.jsonl")
    log.write("event", timesteps=0, event="start")
    rng = np.random.default_rng(0)
    out = []
    with RunLock(run):
        _wait(lambda: server.get("/api/runs")[1]["runs"], 30, "the run list")
        _open_run(driver, server, "latency/run")
        count = 1
        for i in range(1, samples + 1):
            time.sleep(0.3 + rng.uniform(0, 0.4))
            t_write = time.time()
            log.write("rollout", timesteps=100 * i, total_timesteps=100 * samples,
                      steps_per_s=1000.0, ep_reward_mean=float(rng.normal()), ep_rewards=[1.0])
            count += 1
            drawn = _wait(lambda count=count: driver.execute_script(
                "return (window.hlynrDraws || []).filter(d => d.next >= arguments[0])"
                ".map(d => d.at)[0]", count), 10, "the record to be drawn")
            out.append(drawn / 1000.0 - t_write)
    out_ms = np.array(out) * 1000
    print(f"latency: record written -> drawn in the browser over {samples} records: median "
          f"{np.median(out_ms):.0f} ms, 95th percentile {np.percentile(out_ms, 95):.0f} ms, "
          f"max {out_ms.max():.0f} ms (target < 1000 ms)")


def scale(root: Path, server: Server, driver: Any, big: int) -> None:
    """100 runs, one with ``big`` records: list, series and page times."""
    folder = root / "runs" / "many"
    line = ('{{"type":"rollout","timesteps":{t},"total_timesteps":{T},"wall_time":1.0,'
            '"steps_per_s":1000.0,"ep_reward_mean":{r:.3f},"success_rate":0.5,"ent_coef":0.0,'
            '"learning_rate":0.0003,"stage":null,"losses":{{"value_loss":{v:.4f},'
            '"policy_gradient_loss":-0.01}},"ep_rewards":[{r:.2f},{v:.2f}]}}\n')
    for k in range(100):
        n = big if k == 0 else 2000
        run = folder / f"run{k:03d}"
        run.mkdir(parents=True)
        (run / "config.yaml").write_text("name: many\n")
        with open(run / "progress.jsonl", "w") as fh:
            fh.write('{"type":"event","timesteps":0,"event":"start"}\n')
            fh.writelines(line.format(t=100 * i, T=100 * n, r=(i % 977) / 10, v=(i % 313) / 100)
                          for i in range(1, n + 1))
            fh.write(f'{{"type":"event","timesteps":{100 * n},"event":"end","status":"completed"}}\n')
    first, body = server.get("/api/runs")
    warm, _ = server.get("/api/runs")
    s_first, series = server.get("/api/runs/many/run000/series?points=1500")
    s_warm, _ = server.get("/api/runs/many/run000/series?points=1500")
    pts = max(len(v[0]) for v in series["series"].values())
    print(f"scale: {len(body['runs'])} runs listed in {first:.2f} s (first) / {warm:.2f} s (warm); "
          f"series of a {big:,}-record run in {s_first:.2f} s (first) / {s_warm:.2f} s (warm), "
          f"at most {pts} points per series")
    t0 = time.perf_counter()
    driver.get(server.url + "/")
    _wait(lambda: len(driver.find_elements("css selector", "#runs tbody tr")) >= 100, 60, "100 rows")
    t_list = time.perf_counter() - t0
    t0 = time.perf_counter()
    driver.find_element("css selector", 'tr[data-run="many/run000"]').click()
    _wait(lambda: int(driver.execute_script(
        "return +document.querySelector('#chart-reward').dataset.points || 0")) > 0, 60, "charts")
    print(f"scale: page lists the runs in {t_list:.2f} s and draws the {big:,}-record run in "
          f"{time.perf_counter() - t0:.2f} s")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--steps", type=int, default=None, help="timesteps per training round")
    p.add_argument("--pairs", type=int, default=None, help="rounds with and without the page")
    p.add_argument("--big", type=int, default=100_000, help="records of the big run")
    args = p.parse_args()
    steps = args.steps or (20_000 if args.quick else 60_000)
    pairs = args.pairs or (2 if args.quick else 3)
    root = Path(tempfile.mkdtemp(prefix="hlynr-bench-dashboard-"))
    (root / "runs").mkdir()
    (root / "configs").mkdir()
    server = Server(root / "runs", root / "configs")
    driver = _browser()
    try:
        print(f"training rounds of {steps:,} steps, {pairs} pairs (CartPole PPO, 8 envs)", flush=True)
        overhead(root, server, driver, steps, pairs)
        latency(root, server, driver, 10 if args.quick else 30)
        scale(root, server, driver, args.big)
    finally:
        driver.quit()
        server.close()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
