"""The ``replay`` callback: a run folder keeps a drawing of its evaluations (the evaluation's own
first episodes, with the model of that moment), and configs it cannot draw are refused at load."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from replay_testing import intercept_config

from hlynr.config import ConfigError, validate_config
from hlynr.runs.progress_log import read_progress
from hlynr.training.runner import start_run


def _config(replay: dict, evaluation: dict | None = None, **top) -> dict:
    cfg = intercept_config()
    cfg["callbacks"] = [{"evaluation": {"every": 64, "episodes": 2, **(evaluation or {})}},
                        {"replay": replay}]
    return {**cfg, **top}


def test_every_evaluation_is_drawn_with_the_model_it_scored(tmp_path: Path) -> None:
    run = start_run(validate_config(_config({"format": "gif"}, {"episodes": 1})),
                    runs_dir=tmp_path).run_dir
    log = read_progress(run / "progress.jsonl")
    evals = {r["timesteps"]: r for r in log if r["type"] == "eval"}
    assert sorted(evals) == [64, 128]
    assert sorted(p.name for p in (run / "replays").iterdir()) == ["eval_128", "eval_64"]
    seed = 1_000_003  # the evaluation's first seed: the run's seed + the evaluation offset
    for t, rec in evals.items():
        folder = run / "replays" / f"eval_{t}"
        assert sorted(p.name for p in folder.iterdir()) == [
            f"episode_{seed}.gif", f"episode_{seed}.png", "replay.json"]
        meta = json.loads((folder / "replay.json").read_text())
        assert meta["kind"] == "evaluation" and meta["timesteps"] == t
        (episode,) = meta["episodes"]
        # the episode drawn is the one the evaluation scored (one episode: its mean is this return)
        assert episode["seed"] == seed and episode["reward"] == pytest.approx(rec["eval_mean_reward"])
        assert episode["length"] == rec["eval_mean_length"] == 40
        with Image.open(folder / f"episode_{seed}.gif") as gif:
            assert gif.n_frames == 41  # the first state and one per step
        still = np.asarray(Image.open(folder / f"episode_{seed}.png"))
        assert still.shape[1] == 640
    events = [r for r in log if r.get("event") == "replay"]
    assert [e["folder"] for e in events] == ["replays/eval_64", "replays/eval_128"]


def test_every_kth_evaluation_and_several_episodes(tmp_path: Path) -> None:
    cfg = _config({"every_evaluation": 2, "episodes": 2}, total_timesteps=192)
    run = start_run(validate_config(cfg), runs_dir=tmp_path).run_dir
    assert [p.name for p in (run / "replays").iterdir()] == ["eval_128"]  # evaluations 64, 128, 192
    names = sorted(p.name for p in (run / "replays" / "eval_128").iterdir())
    assert names == ["episode_1000003.mp4", "episode_1000003.png", "episode_1000004.mp4",
                     "episode_1000004.png", "replay.json"]


@pytest.mark.parametrize(("change", "message"), [
    ({"env": {"id": "hlynr/Intercept-v0", "vectoriser": "dummy", "n_envs": 2}},
     "callbacks[1].replay: replays read the true state from hlynr's batched VecEnv; this config "
     "uses vectoriser 'dummy'"),
    ({"env": {"id": "CartPole-v1", "n_envs": 2}, "wrappers": []},
     "CartPole-v1 has no renderer"),
    ({"replay": {"episodes": 3}}, "callbacks[1].replay.episodes: 3 episodes, but each evaluation runs 2"),
    ({"replay": {"format": "avi"}}, "format"),
    ({"replay": {"every_evaluation": 0}}, "every_evaluation"),
    ({"no_evaluation": True}, "'replay' acts on evaluation results: add an 'evaluation' callback"),
])
def test_configs_a_replay_cannot_draw_are_refused(change: dict, message: str) -> None:
    cfg = _config(change.pop("replay", {}))
    if change.pop("no_evaluation", False):
        cfg["callbacks"] = cfg["callbacks"][1:]
    cfg.update(change)
    with pytest.raises(ConfigError) as err:
        validate_config(cfg)
    assert message in str(err.value)
