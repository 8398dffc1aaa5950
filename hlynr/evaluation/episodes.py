"""Run seeded evaluation episodes of a policy on a VecEnv and collect their outcomes.

Episodes are run in *waves*: all ``n`` envs are reset with consecutive seeds, and each env's
first episode is recorded (later episodes of envs that finish early are ignored) before the next
wave. Episode ``k`` therefore always uses seed ``seed + k``, whatever the number of envs, so two
policies (or two checkpoints) are scored on exactly the same episodes.

Multi-agent VecEnvs (one row per agent, ``rows_per_episode`` rows per env copy) count one
episode per env copy, read from its first row.

A :class:`StepRecorder` passed to :func:`run_episodes` sees every step of the recorded episodes
(``evaluate.py --trajectories``, replays); without one the loop does nothing extra.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from stable_baselines3.common.vec_env import VecEnv
from stable_baselines3.common.vec_env.base_vec_env import VecEnvObs

from hlynr.evaluation.stats import numeric_items, paired_mean_difference, summarize, wilson_interval
from hlynr.registries.base import suggest


@dataclass
class EpisodeRecord:
    """The outcome of one evaluation episode."""

    seed: int
    reward: float
    length: int
    success: bool | None  # None when the env does not report the success key
    info: dict[str, float] = field(default_factory=dict)
    text: dict[str, str] = field(default_factory=dict)


@dataclass
class EvaluationSummary:
    """Aggregate metrics over evaluation episodes."""

    episodes: list[EpisodeRecord]

    @property
    def n(self) -> int:
        return len(self.episodes)

    def metrics(self) -> dict[str, float]:
        """Flat metrics: success rate with its 95 % Wilson interval, reward and length stats."""
        n = self.n
        rewards = np.array([e.reward for e in self.episodes], dtype=float)
        lengths = np.array([e.length for e in self.episodes], dtype=float)
        out = {
            "episodes": float(n),
            "mean_reward": float(rewards.mean()) if n else 0.0,
            "std_reward": float(rewards.std()) if n else 0.0,
            "mean_length": float(lengths.mean()) if n else 0.0,
        }
        reported = [e.success for e in self.episodes if e.success is not None]
        if reported:  # success metrics only where the env reports success
            wins = sum(reported)
            lo, hi = wilson_interval(wins, len(reported))
            out.update(success_rate=wins / len(reported), success_ci_low=lo, success_ci_high=hi)
        return out

    def info_stats(self, success_only: bool = False) -> dict[str, dict[str, float]]:
        """Mean and percentiles of every numeric value the env reported in final infos.

        ``success_only`` restricts them to successful episodes (e.g. fuel left at intercept).
        """
        episodes = [e for e in self.episodes if e.success or not success_only]
        keys = sorted({k for e in episodes for k in e.info})
        return {k: summarize([e.info[k] for e in episodes if k in e.info]) for k in keys}

    def fraction_below(self, key: str, threshold: float) -> dict[str, Any]:
        """P(info[key] < threshold) over the episodes reporting ``key``, with its 95 % interval."""
        values = [e.info[key] for e in self.episodes if key in e.info]
        hits = sum(v < threshold for v in values)
        lo, hi = wilson_interval(hits, len(values))
        return {"key": key, "threshold": threshold, "n": len(values),
                "fraction": hits / len(values) if values else 0.0, "ci_low": lo, "ci_high": hi}

    def paired_info(self, other: EvaluationSummary, key: str) -> dict[str, float]:
        """``self - other`` of the final-info ``key`` on the same episodes
        (:func:`~hlynr.evaluation.stats.paired_mean_difference`); ValueError when the episodes
        differ or one of them did not report ``key``."""
        if [e.seed for e in self.episodes] != [e.seed for e in other.episodes]:
            raise ValueError("paired comparison on different episodes")
        missing = sum(key not in e.info for e in self.episodes + other.episodes)
        if missing:
            reported = sorted({k for e in self.episodes + other.episodes for k in e.info})
            raise ValueError(f"'{key}' is missing from the final info of {missing} episode(s)"
                             f"{suggest(key, reported)}; reported: {', '.join(reported) or 'nothing'}")
        return paired_mean_difference([e.info[key] for e in self.episodes],
                                      [e.info[key] for e in other.episodes])

    def text_counts(self) -> dict[str, dict[str, int]]:
        """Counts of every string value in final infos (e.g. termination reasons)."""
        out: dict[str, dict[str, int]] = {}
        for e in self.episodes:
            for k, v in e.text.items():
                out.setdefault(k, {}).setdefault(v, 0)
                out[k][v] += 1
        return out


class StepRecorder(Protocol):
    """A per-step hook of :func:`run_episodes` (see :mod:`hlynr.evaluation.trajectories`)."""

    def wave(self, first_episode: int, n_active: int, obs: VecEnvObs) -> None:
        """Every env copy was reset; copies ``0 .. n_active - 1`` run episodes
        ``first_episode + c``; ``obs``: the first observations the policy gets."""

    def step(self, actions: np.ndarray, obs: VecEnvObs, rewards: np.ndarray, dones: np.ndarray,
             infos: list[dict[str, Any]], live: np.ndarray) -> None:
        """One step: the policy's ``actions``, then what the VecEnv returned; ``live`` (per copy):
        the copies whose episode was still recorded when the step started."""


def run_episodes(
    policy: Any,
    venv: VecEnv,
    n_episodes: int,
    seed: int,
    *,
    deterministic: bool = True,
    success_key: str = "is_success",
    recorder: StepRecorder | None = None,
) -> EvaluationSummary:
    """Run ``n_episodes`` seeded episodes (seeds ``seed .. seed+n-1``) and summarise them.

    ``policy`` is anything with SB3's ``predict(obs, state, episode_start, deterministic)``;
    recurrent state is carried across steps and reset at episode starts. ``recorder`` is told
    about every reset and step (nothing is recorded without one).
    """
    rows = int(getattr(venv, "rows_per_episode", 1))
    n_copies = venv.num_envs // rows
    records: list[EpisodeRecord] = []
    wave_start = 0
    while wave_start < n_episodes:
        n_active = min(n_copies, n_episodes - wave_start)
        venv.seed(seed + wave_start)
        obs = venv.reset()
        if recorder is not None:
            recorder.wave(wave_start, n_active, obs)
        state = None
        episode_start = np.ones(venv.num_envs, dtype=bool)
        done_copy = np.zeros(n_copies, dtype=bool)
        done_copy[n_active:] = True  # copies beyond the episode budget are not recorded
        returns = np.zeros(n_copies)
        lengths = np.zeros(n_copies, dtype=int)
        while not done_copy.all():
            actions, state = policy.predict(obs, state=state, episode_start=episode_start,
                                            deterministic=deterministic)
            obs, rewards, dones, infos = venv.step(actions)
            if recorder is not None:
                recorder.step(actions, obs, rewards, dones, infos, ~done_copy)
            episode_start = dones
            for c in range(n_copies):
                if done_copy[c]:
                    continue
                row = c * rows
                returns[c] += float(np.sum(rewards[row:row + rows]) if rows > 1 else rewards[row])
                lengths[c] += 1
                if dones[row]:
                    info = infos[row]
                    ep = info.get("episode")
                    reward = float(ep["r"]) if ep else float(returns[c])
                    length = int(ep["l"]) if ep else int(lengths[c])
                    numeric = numeric_items(info)
                    success = bool(info[success_key]) if success_key in info else None
                    text = {k: v for k, v in info.items() if isinstance(v, str)}
                    records.append(EpisodeRecord(seed + wave_start + c, reward, length, success,
                                                 numeric, text))
                    done_copy[c] = True
        wave_start += n_active
    records.sort(key=lambda r: r.seed)
    return EvaluationSummary(records)
