"""The multi-process batched Intercept VecEnv (``workers > 1``): equivalence, control, lifetime."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from hlynr_testing import coin_config
from test_intercept_env import batched_and_single, step_and_compare

from hlynr.config import ConfigError, validate_config
from hlynr.envs.factory import build_vec_env
from hlynr.envs.intercept import BatchedInterceptVecEnv
from hlynr.multiagent.workers import share_bounds


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False


def test_share_bounds_cover_all_envs_contiguously() -> None:
    assert share_bounds(7, 3) == [(0, 2), (2, 4), (4, 7)]
    for n, k in ((1, 1), (5, 5), (1024, 2), (1000, 7)):
        b = share_bounds(n, k)
        assert b[0][0] == 0 and b[-1][1] == n and all(b[i][1] == b[i + 1][0] for i in range(k - 1))
        assert max(hi - lo for lo, hi in b) - min(hi - lo for lo, hi in b) <= 1


def test_workers_equal_single_envs_with_resets_curriculum_and_params() -> None:
    """Env i of a 3-process batched env seeded s gives exactly single env i seeded s + i: radar
    observations (so the sensor reached the workers), rewards, dones, automatic resets with
    terminal observations and final infos, and a curriculum change on envs of every share."""
    n, seed, steps = 7, 5, 320
    kw = {"scenario": "manoeuvring"}
    sensor = {"mode": "radar", "filter": "ca"}
    venv, envs = batched_and_single(n, seed, sensor, workers=3, **kw)
    try:
        assert venv.unwrapped.workers == 3 and venv.unwrapped.core.n == 2  # shares 0-1 here, 2-3, 4-6
        rng = np.random.default_rng(2)
        ends = 0
        change = {"kill_radius": 20.0, "target_accel_g": 4.0, "target_maneuver": "random"}
        for step in range(steps):
            if step == 50:
                venv.env_method("apply_params", indices=[1, 3, 6], **change)
                for i in (1, 3, 6):
                    envs[i].unwrapped.apply_params(**change)
            ends += step_and_compare(venv, envs, rng.uniform(-1.2, 1.2, (n, 2)).astype(np.float32))
        assert ends >= n  # automatic resets in every share were compared
        params = venv.get_attr("params")
        assert [p.kill_radius for p in params] == [None, 20.0, None, 20.0, None, None, 20.0]
        assert [p.target_maneuver for p in venv.get_attr("params", indices=[6, 0])] == ["random", None]
    finally:
        venv.close()


def test_workers_match_one_process_and_reseed() -> None:
    """Same numbers with 1 and 2 processes; ``seed`` + ``reset`` restarts the same sequences and
    a plain ``reset`` continues with the next episodes."""
    n = 5
    one = BatchedInterceptVecEnv(n, seed=11, scenario="sensor", sensor={"filter": "cv"})
    two = BatchedInterceptVecEnv(n, seed=11, scenario="sensor", sensor={"filter": "cv"}, workers=2)
    try:
        rng = np.random.default_rng(0)
        first = []
        for episode in range(3):
            if episode == 2:
                one.seed(11), two.seed(11)
            a, b = one.reset(), two.reset()
            np.testing.assert_array_equal(a, b)
            first.append(a)
            for _ in range(30):
                act = rng.uniform(-1, 1, (n, 2))
                ra, rb = one.step(act), two.step(act)
                for x, y in zip(ra[:3], rb[:3]):
                    np.testing.assert_array_equal(x, y)
        assert not np.array_equal(first[0], first[1])  # a plain reset starts new episodes
        np.testing.assert_array_equal(first[0], first[2])  # re-seeding repeats them
    finally:
        two.close()


def test_worker_errors_surface_in_the_parent_and_curricula_are_all_or_nothing() -> None:
    venv = BatchedInterceptVecEnv(4, seed=0, workers=2, scenario="standard")
    try:
        venv.reset()
        with pytest.raises(ValueError, match="did you mean 'kill_radius'") as info:
            venv.env_method("apply_params", indices=[3], kill_radiu=1.0)
        assert any("intercept env worker 1 (envs 2-3" in note for note in info.value.__notes__)
        # env 3 (worker) gets a speed range; a maximum below it then fails there, and must not
        # reach env 0 (this process) either
        venv.env_method("apply_params", indices=[3], target_speed_min=1000.0, target_speed_max=1100.0)
        with pytest.raises(ValueError):
            venv.env_method("apply_params", target_speed_max=900.0)
        assert [p.target_speed_max for p in venv.get_attr("params")] == [None, None, None, 1100.0]
        venv.step(np.zeros((4, 2)))  # still usable
        # a request whose answer was never read (the parent interrupted, e.g. by Ctrl-C) does
        # not desynchronise the next one
        venv._pool.send("models", {0: ([0],)})
        assert [p.target_speed_max for p in venv.get_attr("params")] == [None, None, None, 1100.0]
        # a worker that dies is reported, and the env refuses further use
        pid = venv._pool.procs[0].pid
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(RuntimeError, match="exited unexpectedly during step"):
            venv.step(np.zeros((4, 2)))
        with pytest.raises(RuntimeError, match="unusable"):
            venv.step(np.zeros((4, 2)))
    finally:
        venv.close()


def test_close_stops_workers_and_ctrl_c_is_left_to_the_parent() -> None:
    venv = BatchedInterceptVecEnv(6, seed=0, workers=3, scenario="easy")
    pids = [p.pid for p in venv._pool.procs]
    venv.reset()
    for pid in pids:  # Ctrl-C in a terminal reaches the whole process group
        os.kill(pid, signal.SIGINT)
    time.sleep(0.1)
    venv.step(np.zeros((6, 2)))
    venv.close()
    venv.close()  # idempotent
    assert not any(_alive(pid) for pid in pids)
    with pytest.raises(RuntimeError, match="closed"):
        venv.step(np.zeros((6, 2)))


def test_workers_exit_when_the_parent_is_killed(tmp_path) -> None:
    script = textwrap.dedent("""
        import os, signal, sys
        from hlynr.envs.intercept import BatchedInterceptVecEnv
        if __name__ == "__main__":
            venv = BatchedInterceptVecEnv(4, seed=0, workers=3, scenario="easy")
            venv.reset()
            print(" ".join(str(p.pid) for p in venv._pool.procs), flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
    """)
    path = tmp_path / "die.py"
    path.write_text(script)
    out = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=60)
    pids = [int(p) for p in out.stdout.split()]
    assert len(pids) == 2, out.stderr
    deadline = time.time() + 10.0
    while any(_alive(p) for p in pids) and time.time() < deadline:
        time.sleep(0.05)
    assert not any(_alive(p) for p in pids)


def test_workers_option_in_config_and_factory() -> None:
    cfg = coin_config()
    cfg["env"] = {"id": "hlynr/Intercept-v0", "kwargs": {"scenario": "easy", "sensor": {"filter": "cv"}},
                  "n_envs": 4, "vectoriser": "batched", "workers": 2}
    config = validate_config(cfg)
    venv = build_vec_env(config)
    try:
        assert venv.unwrapped.workers == 2
        assert venv.reset().shape == (4, 28)
    finally:
        venv.close()
    bad = dict(cfg, env={**cfg["env"], "vectoriser": "dummy"})
    with pytest.raises(ConfigError, match="env.workers.*batched vectoriser only"):
        validate_config(bad)
    with pytest.raises(ConfigError, match="env.workers"):
        validate_config(dict(cfg, env={**cfg["env"], "workers": 0}))
    with pytest.raises(ValueError, match="workers must be >= 1"):
        BatchedInterceptVecEnv(2, workers=0)
