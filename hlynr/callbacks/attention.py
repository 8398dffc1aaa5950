"""Logs how sharply an attention features extractor attends: ``train/attention_sharpness``.

Sharpness is the mean over observations with at least one valid slot of the largest attention
weight (1: one slot gets all the attention; 1/K: uniform over K valid slots), accumulated over
every forward pass of the actor's extractor since the previous rollout. The runner adds this
callback by itself when the policy has an attention extractor.
"""

from __future__ import annotations

from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback

from hlynr.algos.attention import attention_extractors
from hlynr.registries import CallbackPhase, Phased


class AttentionSharpness(BaseCallback, Phased):
    """Records the actor's attention sharpness once per rollout (TensorBoard, progress.jsonl)."""

    phase = CallbackPhase.MEASURE  # before the progress record, which includes it

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        found = attention_extractors(self.model.policy)
        value = found[0].pop_sharpness() if found else None
        if value is not None:
            self.logger.record("train/attention_sharpness", value)


def has_attention(model: BaseAlgorithm) -> bool:
    """Whether ``model``'s policy has an attention features extractor."""
    return bool(attention_extractors(model.policy))
