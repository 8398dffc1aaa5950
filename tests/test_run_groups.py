"""Run groups: ``seeds:``/``grid:`` validation, the layout on disk, seed runs as child processes
(bit-identical to the same seed run alone), Ctrl+C and resume, a failing seed, bad input."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from hlynr_testing import REPO, coin_config

from hlynr.config import ConfigError
from hlynr.runs.group import (
    SeedState,
    is_grid,
    read_grid,
    read_group,
    read_groups,
    seed_dir,
    seed_status,
)
from hlynr.runs.progress_log import read_progress
from hlynr.zoo import load_config

ENV = {**os.environ, "PYTHONPATH": f"{REPO / 'tests'}{os.pathsep}{REPO}", "OMP_NUM_THREADS": "1"}
COIN = "hlynr_testing:CoinEnv"  # importable by every seed's own training process
TIME_KEYS = {"wall_time", "steps_per_s", "eval_seconds"}


def group_config(tmp_path: Path, name: str = "cfg", env: dict[str, Any] | None = None,
                 **over: Any) -> Path:
    """A coin config file whose env every seed's own process can import."""
    data = coin_config(**over)
    data["env"] = {"id": COIN, "n_envs": 2, **(env or {})}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def train(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "train.py", *args, "--quiet"], cwd=REPO, env=ENV,
                          capture_output=True, text=True, timeout=timeout)


def only(folder: Path, pattern: str) -> Path:
    found = list(folder.glob(pattern))
    assert len(found) == 1, found
    return found[0]


# --- seeds: and grid: in a config ---------------------------------------------------------------


@pytest.mark.parametrize(("value", "seeds"), [
    ("0-4", [0, 1, 2, 3, 4]), ("0-2, 7", [0, 1, 2, 7]), ([5, 3], [5, 3]), ("3", [3]),
])
def test_seeds_take_a_list_or_a_text_of_seeds_and_ranges(tmp_path: Path, value: Any,
                                                          seeds: list[int]) -> None:
    config = load_config(group_config(tmp_path, seeds=value)).config
    assert config.seeds == seeds and config.is_group


@pytest.mark.parametrize(("value", "fragment"), [
    ("4-2", "the range '4-2' is empty"), ([1, 1], "seed 1 is listed more than once"),
    ([-1], "seed -1 is out of range"), (3, "a bare number is ambiguous: write [3] for seed 3"),
    ("0-5000", "at most 1000"), ("a-b", "is not a list of seeds"), (True, "seeds must be"),
    ([], "seeds is empty"), ([0, "1"], "seeds must be a list of seeds"),
])
def test_bad_seeds_are_rejected_with_their_line(tmp_path: Path, value: Any, fragment: str) -> None:
    path = group_config(tmp_path, seeds=value)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if text.startswith("seeds"))
    assert fragment in str(err.value) and f"{path}:{line}: seeds:" in str(err.value)


def test_a_grid_with_one_invalid_cell_is_rejected_naming_the_cell_and_key(tmp_path: Path) -> None:
    # PPO takes n_epochs and batch_size; A2C takes neither: the A2C cells are invalid
    path = group_config(tmp_path, grid={"algo.name": ["PPO", "A2C"], "env.kwargs.p": [0.2, 0.8]})
    with pytest.raises(ConfigError) as err:
        load_config(path)
    text = str(err.value)
    assert "2 of 4 cells invalid; nothing was run" in text
    assert "cell 2 (algo.name = 'A2C', env.kwargs.p = 0.2) gives an invalid config" in text
    assert "cell 3 (algo.name = 'A2C', env.kwargs.p = 0.8)" in text
    assert "algo.hyperparams.n_epochs: unknown key 'n_epochs'" in text
    assert "cell 0" not in text and "cell 1 " not in text


@pytest.mark.parametrize(("grid", "fragment"), [
    ({"seed": [1, 2]}, "grid.seed: 'seed' cannot be a grid key"),
    ({"env.kwargs.p": []}, "grid.env.kwargs.p: the values to cross must be a non-empty list"),
    ({"env.kwargs.p": [0.1, 0.1]}, "the value 0.1 is listed twice"),
    ({"env": [{}], "env.kwargs.p": [0.5]}, "'env.kwargs.p' lies inside the grid key 'env'"),
    ({"env.kwargs.q": [1]}, "cell 0 (env.kwargs.q = 1) gives an invalid config"),
    ({"wrappers.3.x": [1]}, "key path wrappers.3.x: no list item 3"),
])
def test_bad_grids_are_rejected(tmp_path: Path, grid: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(group_config(tmp_path, grid=grid))
    assert fragment in str(err.value)


def test_a_tune_section_cannot_tune_the_group_keys(tmp_path: Path) -> None:
    tune = {"params": {"seeds": {"type": "categorical", "choices": [[0, 1]]}}}
    with pytest.raises(ConfigError, match="'seeds' cannot be tuned"):
        load_config(group_config(tmp_path, tune=tune,
                                 callbacks=[{"evaluation": {"every": 256, "episodes": 2}}]))


# --- the layout ---------------------------------------------------------------------------------


def test_the_grid_layout_is_written_before_any_seed_and_read_back(tmp_path: Path) -> None:
    from hlynr.training.groups import plan_resume, write_layout

    path = group_config(tmp_path, seeds="3-4",
                        grid={"algo.hyperparams.n_epochs": [1, 2], "env.kwargs.p": [0.2, 0.8]})
    config = load_config(path).config
    grid_dir = tmp_path / "runs" / "coin" / "grid-x"
    plan = write_layout(config, grid_dir)
    assert is_grid(grid_dir) and len(plan.units) == 8
    grid = read_grid(grid_dir)
    assert grid.keys == ("algo.hyperparams.n_epochs", "env.kwargs.p") and grid.seeds == (3, 4)
    assert [c.values for c in grid.cells] == [
        {"algo.hyperparams.n_epochs": n, "env.kwargs.p": p} for n in (1, 2) for p in (0.2, 0.8)]
    groups = read_groups(grid_dir)
    assert [g.path.name for g in groups] == ["cell_0", "cell_1", "cell_2", "cell_3"]
    cell3 = read_group(grid_dir / "cell_3")
    assert cell3.cell == {"algo.hyperparams.n_epochs": 2, "env.kwargs.p": 0.8}
    assert (cell3.env_id, cell3.algo, cell3.seeds) == (COIN, "PPO", (3, 4))
    # each cell's config.yaml is an ordinary config (no seeds, no grid) with the cell's values
    run_config = load_config(cell3.config_path, ["seed=4"]).config
    assert not run_config.is_group and run_config.seed == 4
    assert run_config.algo.hyperparams["n_epochs"] == 2 and run_config.env.kwargs == {"p": 0.8}
    assert not any(p.name.startswith("seed_") for g in groups for p in g.path.iterdir())
    assert [u.command()[-7:] for u in plan.units[:1]] == [[
        "--config", str(grid_dir / "cell_0" / "config.yaml"), "--set", "seed=3",
        "--run-dir", str(grid_dir / "cell_0" / "seed_3"), "--quiet"]]
    resumed = plan_resume(grid_dir)  # nothing ran: every seed is started
    assert [(u.cell, u.seed, u.action) for u in resumed.units] == [
        (c, s, "start") for c in range(4) for s in (3, 4)]


def _fake_run(run: Path, *, end: str | None, checkpoint: bool) -> None:
    run.mkdir(parents=True)
    (run / "config.yaml").write_text("{}")
    records = [{"type": "event", "timesteps": 0, "event": "start"}]
    if end:
        records.append({"type": "event", "timesteps": 64, "event": "end", "status": end,
                        "reason": "why"})
    (run / "progress.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    if checkpoint:
        ckpt = run / "checkpoints" / "step_000000000064"
        ckpt.mkdir(parents=True)
        (ckpt / "model.zip").write_bytes(b"")
        (ckpt / "meta.json").write_text("{}")


def test_trackers_show_a_group_and_each_grid_cell_as_one_group(tmp_path: Path) -> None:
    from hlynr.training.groups import write_layout

    path = group_config(tmp_path, seeds="0-1", tracking={"tensorboard": True},
                        grid={"env.kwargs.p": [0.2, 0.8]})
    write_layout(load_config(path).config, tmp_path / "runs" / "coin" / "grid-x")
    for k in (0, 1):
        data = yaml.safe_load((tmp_path / "runs" / "coin" / "grid-x" / f"cell_{k}" / "config.yaml").read_text())
        assert data["tracking"]["tensorboard"]["group"] == f"coin/grid-x/cell_{k}"
    path = group_config(tmp_path, name="plain", seeds="0-1", tracking={"tensorboard": {"group": "mine"}})
    write_layout(load_config(path).config, tmp_path / "g")
    assert yaml.safe_load((tmp_path / "g" / "config.yaml").read_text())["tracking"]["tensorboard"]["group"] == "mine"


def test_seed_status_says_what_continuing_does_with_each_seed(tmp_path: Path) -> None:
    cases = {"missing": None, "done": ("completed", False), "stopped": ("stopped", True),
             "failed": ("failed", True), "resumable": ("interrupted", True),
             "killed": (None, True), "restart": ("interrupted", False), "fresh": (None, False)}
    for name, spec in cases.items():
        if spec is not None:
            _fake_run(tmp_path / name, end=spec[0], checkpoint=spec[1])
    states = {name: seed_status(tmp_path / name).state for name in cases}
    assert states == {"missing": SeedState.MISSING, "done": SeedState.DONE,
                      "stopped": SeedState.DONE, "failed": SeedState.FAILED,
                      "resumable": SeedState.RESUMABLE, "killed": SeedState.RESUMABLE,
                      "restart": SeedState.RESTART, "fresh": SeedState.RESTART}
    assert seed_status(tmp_path / "failed").end == {
        "type": "event", "timesteps": 64, "event": "end", "status": "failed", "reason": "why"}


# --- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("args", "fragment"), [
    (["--seeds", "5-2"], "the range '5-2' is empty"),
    (["--seeds", "2147483648"], "seed 2147483648 is out of range"),
    (["--seeds", "0-1", "--jobs", "0"], "--jobs 0: at least one seed must train at a time"),
    (["--jobs", "2"], "--jobs go with a run group"),
    (["--seeds", "0-1", "--optimize"], "--optimize runs the config's tune: section"),
    (["--seeds", "0-1", "--study", "s"], "--study and --heartbeat go with --storage"),
    (["--seeds", "0-1", "--storage", "x.txt"], "--storage: storage 'x.txt' is neither"),
    (["--resume", "{tmp}"], "is not a run folder (no config.yaml) or a run group"),
    (["--resume", "{group}", "--set", "seed=3"], "it takes only --jobs and --quiet"),
    (["--resume", "{broken}"], "group.json is damaged"),
])
def test_bad_group_input_gives_one_error_line(args: list[str], fragment: str, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    from hlynr.cli import train
    from hlynr.cli.common import run_main

    (tmp_path / "group").mkdir()
    (tmp_path / "group" / "group.json").write_text(json.dumps(
        {"kind": "group", "name": "coin", "env_id": COIN, "algo": "PPO", "seeds": [0]}))
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "group.json").write_text("{")
    args = [a.format(tmp=tmp_path, group=tmp_path / "group", broken=tmp_path / "broken")
            for a in args]
    source = [] if args[0] == "--resume" else ["--config", str(group_config(tmp_path))]
    runs = tmp_path / "runs"
    assert run_main(train.main, [*source, *args, "--runs-dir", str(runs)]) == 2
    err = capsys.readouterr().err
    assert fragment in err and err.startswith("error:") and "Traceback" not in err, err
    assert not runs.exists()  # nothing written


# --- seeds as processes -------------------------------------------------------------------------


def _comparable(run: Path) -> list[dict[str, Any]]:
    """The run's progress records without wall-clock times."""
    return [{k: v for k, v in r.items() if k not in TIME_KEYS}
            for r in read_progress(run / "progress.jsonl")]


def _parameters(model_dir: Path) -> dict[str, torch.Tensor]:
    with zipfile.ZipFile(model_dir / "model.zip") as z:
        return torch.load(io.BytesIO(z.read("policy.pth")), weights_only=True)


@pytest.mark.slow
def test_each_seed_is_bit_identical_to_the_same_seed_run_alone(tmp_path: Path) -> None:
    path = group_config(tmp_path, total_timesteps=1024,
                        callbacks=[{"evaluation": {"every": 512, "episodes": 4}}])
    group_dir = tmp_path / "group"
    res = train("--config", str(path), "--seeds", "1,2", "--jobs", "2", "--run-dir", str(group_dir))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "seed 1 completed" in res.stdout and "seed 2 completed" in res.stdout
    assert "2 seed(s): 2 completed; last evaluation success_rate" in res.stdout
    alone = tmp_path / "alone"
    res = train("--config", str(path), "--set", "seed=2", "--run-dir", str(alone))
    assert res.returncode == 0, res.stderr
    in_group = seed_dir(group_dir, 2)
    assert _comparable(in_group) == _comparable(alone)
    assert any(r["type"] == "eval" for r in _comparable(alone))
    a, b = _parameters(in_group / "final"), _parameters(alone / "final")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert _comparable(seed_dir(group_dir, 1)) != _comparable(alone)  # the seed does matter


@pytest.mark.slow
def test_a_failed_seed_is_reported_and_the_others_complete(tmp_path: Path) -> None:
    path = group_config(tmp_path, env={"id": "hlynr_testing:SeedFailingCoinEnv",
                                       "kwargs": {"fail_seed": 5}})
    group_dir = tmp_path / "group"
    res = train("--config", str(path), "--seeds", "0,5", "--jobs", "2", "--run-dir", str(group_dir))
    assert res.returncode == 1, res.stdout + res.stderr
    assert "seed 0 completed: reached 512 timesteps" in res.stdout
    assert "seed 5 failed: crashed: RuntimeError: seed 5 fails on purpose" in res.stdout
    assert "2 seed(s): 1 completed, 1 failed (seed 5)" in res.stdout
    assert seed_status(seed_dir(group_dir, 0)).state is SeedState.DONE
    assert seed_status(seed_dir(group_dir, 5)).state is SeedState.FAILED
    assert "seed 5 fails on purpose" in (group_dir / "logs" / "seed_5.log").read_text()


def _timesteps(run: Path) -> int:
    log = run / "progress.jsonl"
    return max((r.get("timesteps", 0) for r in read_progress(log)), default=0) if log.exists() else 0


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_ctrl_c_stops_every_seed_with_a_checkpoint_and_resume_finishes_the_group(
        tmp_path: Path) -> None:
    total = 12000
    path = group_config(tmp_path, total_timesteps=total)
    group_dir = tmp_path / "group"
    # its own session, as a shell puts a foreground job: Ctrl+C is SIGINT to the whole group
    proc = subprocess.Popen([sys.executable, "train.py", "--config", str(path), "--seeds", "0-2",
                             "--jobs", "2", "--run-dir", str(group_dir)], cwd=REPO, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    deadline = time.time() + 240
    while time.time() < deadline:
        if all(_timesteps(seed_dir(group_dir, s)) >= 640 for s in (0, 1)):
            break
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGINT)  # what the terminal does on Ctrl+C
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, out + err
    assert f"continue with: python train.py --resume {group_dir}" in out
    stopped = {}
    for seed in (0, 1):
        status = seed_status(seed_dir(group_dir, seed))
        assert status.state is SeedState.RESUMABLE, status
        # one SIGINT each: a checkpoint was saved (two would abort without one)
        assert status.end is not None and status.end["reason"] == "signal SIGINT"
        stopped[seed] = status.end["timesteps"]
        assert 640 <= stopped[seed] < total
    assert not seed_dir(group_dir, 2).exists()  # never started
    assert "seed 2 not started" in out

    res = train("--resume", str(group_dir), "--jobs", "2", timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "continuing: 2 resumed from a checkpoint, 1 started, 0 left as they ended" in res.stdout
    assert "3 seed(s): 3 completed" in res.stdout
    for seed in (0, 1, 2):
        records = read_progress(seed_dir(group_dir, seed) / "progress.jsonl")
        events = [r["event"] for r in records if r["type"] == "event"]
        assert events == (["start", "end", "resume", "end"] if seed < 2 else ["start", "end"])
        assert records[-1]["status"] == "completed"
        steps = [r["timesteps"] for r in records if r["type"] == "rollout"]
        assert steps == sorted(steps) and steps[-1] >= total  # counters continued
