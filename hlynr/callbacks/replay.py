"""Replays of evaluations: the first episodes of every (k-th) evaluation drawn with the model of
that moment, into ``<run>/replays/eval_<timesteps>/``, so a run folder keeps a visual history of
its learning.

It listens to the evaluation callback and replays the evaluation's own episodes (the same seeds,
curriculum stage, or the first of its ``stages``, determinism and normalisation statistics)
through evaluate.py's episode loop with the trajectory recorder on, then draws them with
:mod:`hlynr.evaluation.replay` (what ``hlynr replay`` draws). Nothing runs between evaluations.
"""

from __future__ import annotations

import os
import shutil
import time
from copy import deepcopy
from pathlib import Path
from typing import Any, Literal

from pydantic import Field
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import unwrap_vec_normalize

from hlynr.config.base import StrictModel
from hlynr.config.schema import ExperimentConfig
from hlynr.envs.rendering import RENDER_MODULES
from hlynr.registries import ChecksConfig, EvalResult, EvaluationListener, Resumable, RunContext
from hlynr.runs.files import write_json

REPLAYS_DIR = "replays"
REPLAY_FILE = "replay.json"
"""Written last into each replay folder: what was drawn and the outcome of each episode."""


class ReplayParams(StrictModel, ChecksConfig):
    """Draw the first ``episodes`` episodes of every ``every_evaluation``-th evaluation."""

    episodes: int = Field(1, ge=1, le=20, description="episodes of each evaluation to draw (from 0)")
    format: Literal["mp4", "gif"] = Field("mp4", description="video format")
    every_evaluation: int = Field(1, ge=1, description="draw evaluations k, 2k, 3k, ...")

    def check_against(self, config: Any) -> tuple[tuple[Any, ...], str] | None:
        """The env must have a renderer and hlynr's batched VecEnv (the true state comes from it);
        the episodes drawn must be the evaluation's own."""
        env_id = config.env.id
        if env_id not in RENDER_MODULES:
            return (), (f"replays draw {', '.join(RENDER_MODULES)}; {env_id} has no renderer")
        vectoriser = getattr(config.env, "vectoriser", None)
        if vectoriser != "batched":
            return (), (f"replays read the true state from hlynr's batched VecEnv; this config uses "
                        f"vectoriser {vectoriser!r}: set env.vectoriser: batched (same episodes)")
        evaluation = config.callback("evaluation")
        if evaluation is not None and self.episodes > evaluation.episodes:
            return ("episodes",), (f"{self.episodes} episodes, but each evaluation runs "
                                   f"{evaluation.episodes}: a replay draws the evaluation's own episodes")
        return None


class ReplayRecorder(EvaluationListener, Resumable):
    """After every ``every_evaluation``-th evaluation, replays its first episodes with the current
    model and writes one video and one still per episode, plus ``replay.json``."""

    state_key = "replay"

    def __init__(self, params: ReplayParams, ctx: RunContext[ExperimentConfig]) -> None:
        self.params, self.ctx = params, ctx
        self.evaluations = 0
        self.written: list[Path] = []

    def state_dict(self) -> dict[str, Any]:
        return {"evaluations": self.evaluations}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.evaluations = int(state.get("evaluations", 0))

    def on_evaluation(self, result: EvalResult, model: BaseAlgorithm) -> bool:
        self.evaluations += 1
        if self.evaluations % self.params.every_evaluation == 0:
            try:
                self.written.append(self.record(result, model))
            except Exception as exc:  # a replay that cannot be drawn does not end the training
                shutil.rmtree(self._partial(result), ignore_errors=True)
                self.ctx.log.write("event", timesteps=result.timesteps, event="replay_failed",
                                   message=f"{type(exc).__name__}: {exc}")
        return True

    def _partial(self, result: EvalResult) -> Path:
        return self.ctx.run_dir / REPLAYS_DIR / f".eval_{result.timesteps}.partial"

    def record(self, result: EvalResult, model: BaseAlgorithm) -> Path:
        """Replay and draw the evaluation ``result`` came from; the replay's folder."""
        from hlynr.callbacks.evaluation import EVAL_SEED_OFFSET
        from hlynr.evaluation import replay as draw
        from hlynr.evaluation.episodes import run_episodes
        from hlynr.evaluation.recording import TrajectoryCollector
        from hlynr.evaluation.scoring import eval_vec_env

        config = self.ctx.config
        evaluation = config.callback("evaluation")
        assert evaluation is not None  # needs_evaluation: the config has one
        seed = evaluation.seed if evaluation.seed is not None else config.seed + EVAL_SEED_OFFSET
        stage, stage_params = config.stage(evaluation.selectors()[0], self.ctx.current_stage())
        t0 = time.perf_counter()
        n = self.params.episodes
        venv = eval_vec_env(config, min(n, 8), stage_params, recording=True)
        try:
            training = model.get_env()
            ours = unwrap_vec_normalize(venv)
            theirs = unwrap_vec_normalize(training) if training is not None else None
            if ours is not None and theirs is not None:  # the statistics the evaluation used
                ours.obs_rms, ours.ret_rms = deepcopy(theirs.obs_rms), deepcopy(theirs.ret_rms)
            collect = TrajectoryCollector(config.env.id)
            run_episodes(model, venv, n, seed, deterministic=evaluation.deterministic,
                         success_key=config.env.success_key, recorder=collect.recorder(venv, model))
        finally:
            venv.close()
        label = f"model at {result.timesteps:,} timesteps"
        collect.add(label, {"kind": "model", "model": "training", "timesteps": result.timesteps})
        traj = collect.trajectories(seed=seed, episodes=n, deterministic=evaluation.deterministic,
                                    success_key=config.env.success_key, stage=stage)
        fps = float(traj.meta["state"].get("fps") or 20.0)
        key = config.env.success_key
        replays = self.ctx.run_dir / REPLAYS_DIR
        final = replays / f"eval_{result.timesteps}"
        partial = self._partial(result)
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        episodes = []
        for k in traj.episode_indices(0):
            p = draw.panel(traj, 0, k)
            video, still = draw.write_episode([p], partial, f"episode_{seed + k}", self.params.format,
                                              fps, key)
            outcome = traj.outcomes(0)[k]
            episodes.append({"seed": seed + k, "video": video.name, "still": still.name,
                             "success": None if outcome.success is None else bool(outcome.success),
                             "reward": float(outcome.reward), "length": int(outcome.length),
                             "outcome": draw.outcome_text(p.final, key)[0]})
        write_json(partial / REPLAY_FILE, {
            "kind": "evaluation", "timesteps": result.timesteps, "stage": stage,
            "deterministic": evaluation.deterministic, "format": self.params.format,
            "created": time.time(), "episodes": episodes})
        if final.exists():  # the same timesteps evaluated again after a resume: the newer wins
            shutil.rmtree(final)
        os.replace(partial, final)
        seconds = time.perf_counter() - t0
        self.ctx.log.write("event", timesteps=result.timesteps, event="replay",
                           folder=final.relative_to(self.ctx.run_dir).as_posix(),
                           episodes=len(episodes), seconds=round(seconds, 3))
        return final
