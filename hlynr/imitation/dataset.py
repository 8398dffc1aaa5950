"""The cloning data set: rounds of time-major arrays, viewed as samples or as sequences.

A round holds, for ``T`` steps of ``N`` VecEnv rows: the student's observations (an array
``(T, N, ...)`` or a dict of them), the teacher's labels ``(T, N, ...)``, the episode starts
``(T, N)`` and the row mask ``(T, N)`` (False for inactive multi-agent rows, left out of every
loss). Each round starts at an env reset, so every sequence starts at an episode start.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np

Obs = np.ndarray | dict[str, np.ndarray]


def take(obs: Obs, index: Any) -> Obs:
    """``obs[index]`` for an array or every entry of a dict."""
    if isinstance(obs, dict):
        return {k: v[index] for k, v in obs.items()}
    return obs[index]


def flatten_steps(obs: Obs) -> Obs:
    """``(T, E, ...)`` observations (arrays or dicts) as ``(T * E, ...)``."""
    if isinstance(obs, dict):
        return {k: v.reshape(-1, *v.shape[2:]) for k, v in obs.items()}
    return obs.reshape(-1, *obs.shape[2:])


def stack(items: list[Obs]) -> Obs:
    """Stack per-step observations (arrays or dicts, all of one kind) along a new first axis."""
    if isinstance(items[0], dict):
        dicts = cast(list[dict[str, np.ndarray]], items)  # all dicts, like the first
        return {k: np.stack([o[k] for o in dicts]) for k in dicts[0]}
    return np.stack(cast(list[np.ndarray], items))


def concat(items: list[Obs]) -> Obs:
    """Concatenate observation batches (arrays or dicts, all of one kind) along the first axis."""
    if isinstance(items[0], dict):
        dicts = cast(list[dict[str, np.ndarray]], items)  # all dicts, like the first
        return {k: np.concatenate([o[k] for o in dicts]) for k in dicts[0]}
    return np.concatenate(cast(list[np.ndarray], items))


@dataclass
class Round:
    """One collection round."""

    obs: Obs
    actions: np.ndarray
    starts: np.ndarray
    mask: np.ndarray
    student_prob: float = 0.0

    @property
    def shape(self) -> tuple[int, int]:
        n_steps, n_rows = self.starts.shape
        return n_steps, n_rows

    def sequences(self) -> list[tuple[int, int, int]]:
        """``(row, first step, end step)`` of every episode segment in this round."""
        out = []
        n_steps, n_rows = self.shape
        for row in range(n_rows):
            cuts = [int(t) for t in np.flatnonzero(self.starts[:, row]) if t > 0]
            bounds = [0, *cuts, n_steps]
            out += [(row, a, b) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
        return out


@dataclass
class Dataset:
    """Every round collected so far (DAgger aggregates them)."""

    rounds: list[Round] = field(default_factory=list)

    @property
    def size(self) -> int:
        """Number of labelled samples (masked rows excluded)."""
        return int(sum(r.mask.sum() for r in self.rounds))

    def samples(self) -> tuple[Obs, np.ndarray]:
        """All unmasked ``(observations, labels)`` as flat batches."""
        obs, acts = [], []
        for r in self.rounds:
            keep = r.mask
            obs.append(take(r.obs, keep))
            acts.append(r.actions[keep])
        return concat(obs), np.concatenate(acts)

    def sequences(self) -> list[tuple[int, int, int, int]]:
        """``(round, row, first step, end step)`` of every episode segment."""
        return [(i, *s) for i, r in enumerate(self.rounds) for s in r.sequences()]

    def save(self, path: Path) -> None:
        """Write every round into one ``.npz`` file."""
        arrays: dict[str, np.ndarray] = {}
        for i, r in enumerate(self.rounds):
            if isinstance(r.obs, dict):
                arrays.update({f"r{i}.obs.{k}": v for k, v in r.obs.items()})
            else:
                arrays[f"r{i}.obs"] = r.obs
            arrays.update({f"r{i}.actions": r.actions, f"r{i}.starts": r.starts,
                           f"r{i}.mask": r.mask, f"r{i}.student_prob": np.array(r.student_prob)})
        with path.open("wb") as fh:
            # numpy's stub types **kwds as if they could include allow_pickle: bool.
            np.savez_compressed(fh, **arrays)  # type: ignore[arg-type]

    @classmethod
    def load(cls, path: Path) -> Dataset:
        """Read what :meth:`save` wrote."""
        data = np.load(path)
        rounds = []
        i = 0
        while f"r{i}.actions" in data:
            keys = [k for k in data.files if k.startswith(f"r{i}.obs.")]
            obs: Obs = ({k.split(".", 2)[2]: data[k] for k in keys} if keys else data[f"r{i}.obs"])
            rounds.append(Round(obs, data[f"r{i}.actions"], data[f"r{i}.starts"],
                                data[f"r{i}.mask"], float(data[f"r{i}.student_prob"])))
            i += 1
        return cls(rounds)
