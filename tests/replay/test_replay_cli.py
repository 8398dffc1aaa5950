"""``hlynr replay``: videos and stills of the episodes evaluate.py scores, side by side with a
baseline, attention made visible, and one ``error:`` line for bad input."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image
from replay_testing import INTERCEPT_KWARGS

from hlynr.cli.common import run_main
from hlynr.cli.evaluate import main as evaluate_main
from hlynr.cli.replay import main as replay_main
from hlynr.evaluation import replay as draw
from hlynr.evaluation.trajectories import Trajectories

imageio = pytest.importorskip("imageio.v2")


def _replay(*args: str) -> int:
    return run_main(replay_main, list(args))


def _video_frames(path: Path) -> list[np.ndarray]:
    with imageio.get_reader(str(path), format="FFMPEG") as reader:
        return [np.asarray(f) for f in reader]


def _purple(img: np.ndarray) -> int:
    """Pixels in the attention colour, blended over anything (blue well above green, red above green)."""
    r, g, b = (img[..., i].astype(int) for i in range(3))
    return int(((b > g + 40) & (r > g + 20)).sum())


@pytest.fixture(scope="module")
def intercept_replay(intercept_run: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A replay of seeds 3 and 4 beside pn (kept as a record too) and evaluate.py's scores."""
    tmp = tmp_path_factory.mktemp("intercept_replay")
    assert _replay(str(intercept_run), "--which", "final", "--baseline", "pn", "--seed", "3",
                   "--episodes", "2", "--out", str(tmp / "videos"),
                   "--trajectories", str(tmp / "drawn.npz")) == 0
    assert run_main(evaluate_main, [str(intercept_run), "--which", "final", "--baseline", "pn",
                                    "--seed", "3", "-n", "2", "--json", str(tmp / "scores.json")]) == 0
    return {"videos": tmp / "videos", "record": tmp / "drawn.npz", "scores": tmp / "scores.json"}


def test_a_replay_tells_the_story_evaluate_tells(intercept_replay: dict[str, Path], capsys) -> None:
    traj = Trajectories.load(intercept_replay["record"])
    scores = {r["label"]: r["episodes"] for r in json.loads(intercept_replay["scores"].read_text())["results"]}
    assert traj.labels == ["final", "baseline:pn"]
    for row, label in enumerate(traj.labels):
        for mine, theirs in zip(traj.outcomes(row), scores[label], strict=True):
            assert (mine.seed, mine.success, mine.reward, mine.length) == (
                theirs["seed"], theirs["success"], theirs["reward"], theirs["length"])
            assert mine.info["miss_distance"] == theirs["miss_distance"]


def test_videos_and_stills_per_episode(intercept_replay: dict[str, Path]) -> None:
    traj = Trajectories.load(intercept_replay["record"])
    videos = intercept_replay["videos"]
    assert sorted(p.name for p in videos.iterdir()) == [
        "episode_3_vs_baseline_pn.mp4", "episode_3_vs_baseline_pn.png",
        "episode_4_vs_baseline_pn.mp4", "episode_4_vs_baseline_pn.png"]
    for k in (0, 1):
        lengths = [len(traj.states(row, k)[0]) for row in (0, 1)]
        frames = _video_frames(videos / f"episode_{3 + k}_vs_baseline_pn.mp4")
        assert len(frames) == max(lengths) == 41  # the first state and one per step (2 s at 20 Hz)
        assert frames[0].shape == (draw.HEADER + 480, 2 * 640 + draw.GAP, 3)
        still = np.asarray(Image.open(videos / f"episode_{3 + k}_vs_baseline_pn.png"))
        assert still.shape[1] == 2 * 640 + draw.GAP and still.shape[0] > draw.HEADER + 480


def test_side_by_side_frame_holds_both_panels(intercept_replay: dict[str, Path]) -> None:
    traj = Trajectories.load(intercept_replay["record"])
    panels = [draw.panel(traj, row, 0) for row in (0, 1)]
    *_, frame = draw.frames(panels)  # the last: the two engagements have parted
    left, right = (draw.panel_frame(p, draw.n_frames(panels) - 1) for p in panels)
    np.testing.assert_array_equal(frame[:, :640], left)
    np.testing.assert_array_equal(frame[:, 640 + draw.GAP:], right)
    assert np.all(frame[:, 640:640 + draw.GAP] == frame[0, 640])  # the band between them
    assert not np.array_equal(left[draw.HEADER:], right[draw.HEADER:])  # two engagements
    assert left[draw.HEADER:].std() > 1 and right[draw.HEADER:].std() > 1


def test_from_a_file_draws_without_simulating(intercept_replay: dict[str, Path], tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import hlynr.evaluation.scoring as scoring

    def refuse(*args, **kwargs):
        raise AssertionError("simulated")

    monkeypatch.setattr(scoring, "score_model", refuse)
    monkeypatch.setattr(scoring, "score_baseline", refuse)
    assert _replay("--from", str(intercept_replay["record"]), "--episodes", "1", "--format", "gif",
                   "--out", str(tmp_path / "gif")) == 0
    (gif,) = (tmp_path / "gif").glob("*.gif")
    assert gif.name == "episode_3.gif"  # the policy alone (no --baseline)
    with Image.open(gif) as img:
        assert img.n_frames == 41 and img.size == (640, draw.HEADER + 480)
    assert (tmp_path / "gif" / "episode_3.png").is_file()
    assert not list((tmp_path / "gif").glob(".*"))  # no temporary file left


def test_attention_drawn_for_an_attention_policy(atc_run: Path, tmp_path: Path, capsys) -> None:
    assert _replay(str(atc_run), "--which", "final", "--baseline", "mvp", "--episodes", "1",
                   "--out", str(tmp_path / "v"), "--trajectories", str(tmp_path / "t.npz")) == 0
    out = capsys.readouterr().out
    assert re.search(r"seed 0: final: (SUCCESS|FAILURE).*LoS \d+.*\| +baseline:mvp: ", out), out
    traj = Trajectories.load(tmp_path / "t.npz")
    policy, mvp = (draw.panel(traj, row, 0) for row in (0, 1))
    assert policy.attention is not None and mvp.attention is None
    drawn = draw.panel_frame(policy, 1)
    bare = np.concatenate([drawn[:draw.HEADER], policy.draw(policy.states[:2], policy.scene, (640, 480))])
    assert _purple(drawn) > 200 and _purple(bare) == 0  # the lines are the overlay
    assert _purple(draw.panel_frame(mvp, 1)) == 0
    still, plain = draw.still(policy), draw.still(mvp)
    assert still.shape[0] > plain.shape[0]  # a strip chart per slot below the picture
    strips = still[draw.HEADER + 480:]
    assert np.all(strips == draw.ATTENTION, axis=-1).sum() > 50
    frames = _video_frames(tmp_path / "v" / "episode_0_vs_baseline_mvp.mp4")
    assert len(frames) == max(policy.n_frames, mvp.n_frames) == 13


def test_swarm_baseline_alone_as_gif(tmp_path: Path) -> None:
    cfg = tmp_path / "swarm.yaml"
    cfg.write_text(yaml.safe_dump({
        "name": "s", "total_timesteps": 1, "algo": {"name": "PPO"},
        "env": {"type": "pettingzoo", "id": "hlynr/Swarm-v0", "vectoriser": "batched",
                "kwargs": {"stage": "intermediate", "max_steps": 15}}}))
    assert _replay("--config", str(cfg), "--baseline", "swarm_intercept_point", "--format", "gif",
                   "--out", str(tmp_path / "out")) == 0
    with Image.open(tmp_path / "out" / "episode_0.gif") as img:
        assert img.n_frames == 16


# ------------------------------------------------------------------ bad input
def _one_error(capsys, *needles: str) -> str:
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for needle in needles:
        assert needle in lines[0], err
    return lines[0]


def test_pretrain_without_a_clone(intercept_run: Path, tmp_path: Path, capsys) -> None:
    assert _replay(str(intercept_run), "--which", "pretrain", "--out", str(tmp_path / "o")) == 2
    _one_error(capsys, "pretrain", "available: final")
    assert not (tmp_path / "o").exists()


def test_unwritable_out_and_trajectory_folders(intercept_run: Path, tmp_path: Path, capsys) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert _replay(str(intercept_run), "--which", "final", "--out", str(blocker / "videos")) == 2
    _one_error(capsys, "--out", "is not a folder")
    assert _replay(str(intercept_run), "--which", "final", "--out", str(blocker)) == 2
    _one_error(capsys, "--out", "not a folder")
    assert _replay(str(intercept_run), "--which", "final", "--out", str(tmp_path / "o"),
                   "--trajectories", str(blocker / "t.npz")) == 2
    _one_error(capsys, "--trajectories")
    assert run_main(evaluate_main, [str(intercept_run), "--which", "final", "-n", "1",
                                    "--trajectories", str(tmp_path / "missing" / "t.npz")]) == 2
    _one_error(capsys, "--trajectories", "not a writable folder")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


def test_unknown_and_foreign_baselines(intercept_run: Path, tmp_path: Path, capsys) -> None:
    assert _replay(str(intercept_run), "--which", "final", "--baseline", "pm",
                   "--out", str(tmp_path / "o")) == 2
    _one_error(capsys, "--baseline 'pm'", "pn")
    assert _replay(str(intercept_run), "--which", "final", "--baseline", "mvp",
                   "--out", str(tmp_path / "o")) == 2
    _one_error(capsys, "--baseline mvp", "not hlynr/Intercept-v0")
    assert not (tmp_path / "o").exists()


def test_bad_trajectory_files(intercept_replay: dict[str, Path], atc_run: Path, tmp_path: Path,
                              capsys) -> None:
    record = intercept_replay["record"]
    out = tmp_path / "o"
    assert _replay(str(atc_run), "--from", str(record), "--out", str(out)) == 2
    _one_error(capsys, "a trajectory of hlynr/Intercept-v0", "hlynr/ATC-v0 run")
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"\x00not a zip" * 100)
    assert _replay("--from", str(garbage), "--out", str(out)) == 2
    _one_error(capsys, "not a readable trajectory file")
    cut = tmp_path / "cut.npz"
    cut.write_bytes(record.read_bytes()[: record.stat().st_size // 2])
    assert _replay("--from", str(cut), "--out", str(out)) == 2
    _one_error(capsys, str(cut))
    other = Trajectories.load(record)
    other.meta["env_id"] = "CartPole-v1"
    other.save(tmp_path / "cartpole.npz")
    assert _replay("--from", str(tmp_path / "cartpole.npz"), "--out", str(out)) == 2
    _one_error(capsys, "CartPole-v1", "has no renderer")
    assert _replay("--from", str(record), "--baseline", "apn", "--out", str(out)) == 2
    _one_error(capsys, "no row 'baseline:apn'", "baseline:pn")
    assert _replay("--from", str(tmp_path / "nothing.npz"), "--out", str(out)) == 2
    _one_error(capsys, "no such trajectory file")
    assert not out.exists()


def test_a_gymnasium_vectoriser_records_no_states_and_is_refused_with_the_fix(tmp_path: Path,
                                                                           capsys) -> None:
    cfg = tmp_path / "dummy.yaml"
    cfg.write_text(yaml.safe_dump({"name": "d", "total_timesteps": 1, "algo": {"name": "PPO"},
                                   "env": {"id": "hlynr/Intercept-v0", "kwargs": INTERCEPT_KWARGS,
                                           "n_envs": 2}}))
    assert _replay("--config", str(cfg), "--baseline", "pn", "--out", str(tmp_path / "o")) == 2
    _one_error(capsys, "--set env.vectoriser=batched")
    assert not (tmp_path / "o").exists()
    # evaluate.py still records everything but the states, and the outcomes agree
    assert run_main(evaluate_main, ["--config", str(cfg), "--baseline", "pn", "-n", "2", "--n-envs", "2",
                                    "--json", str(tmp_path / "s.json"),
                                    "--trajectories", str(tmp_path / "t.npz")]) == 0
    traj = Trajectories.load(tmp_path / "t.npz")
    assert not traj.has_states and not any(k.startswith("state.") for k in traj.columns)
    (scored,) = json.loads((tmp_path / "s.json").read_text())["results"]
    assert [e.info["miss_distance"] for e in traj.outcomes(0)] == [
        e["miss_distance"] for e in scored["episodes"]]
    capsys.readouterr()
    assert _replay("--from", str(tmp_path / "t.npz"), "--out", str(tmp_path / "o")) == 2
    _one_error(capsys, "holds no true states")
    assert not (tmp_path / "o").exists()
