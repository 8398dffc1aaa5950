"""``evaluate.py --attention FILE``: the actor's attention weights at every evaluation step.

The file has one JSON object per line and env row per step: ``step`` (the policy call),
``row`` (the env row), ``weights`` (one per slot, 0 on invalid slots) and ``valid``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from stable_baselines3.common.base_class import BaseAlgorithm

from hlynr.algos.attention import AttentionExtractor, attention_extractors


class AttentionRecorder:
    """Wraps a model's ``predict`` and writes the actor's attention weights after each call."""

    def __init__(self, model: BaseAlgorithm, path: Path) -> None:
        found = attention_extractors(model.policy)
        if not found:
            raise ValueError("--attention: the model has no attention features extractor")
        self.model, self.extractor = model, found[0]
        self.fh = Path(path).open("w")
        self.step = 0

    def predict(self, observation: np.ndarray | dict[str, np.ndarray],
                state: tuple[np.ndarray, ...] | None = None, episode_start: np.ndarray | None = None,
                deterministic: bool = True) -> tuple[np.ndarray, tuple[np.ndarray, ...] | None]:
        """The model's actions; the weights of this call are appended to the file."""
        out = self.model.predict(observation, state=state, episode_start=episode_start,
                                 deterministic=deterministic)
        ext: AttentionExtractor = self.extractor
        if ext.last_weights is not None and ext.last_valid is not None:
            for row, (w, v) in enumerate(zip(ext.last_weights.tolist(), ext.last_valid.tolist())):
                self.fh.write(json.dumps({"step": self.step, "row": row, "weights": w,
                                          "valid": v}) + "\n")
        self.step += 1
        return out

    def close(self) -> None:
        """Flush and close the file."""
        self.fh.close()
