"""A multi-head attention features extractor over an own block and K entity slots.

``policy_kwargs: {features_extractor_class: attention, features_extractor_kwargs: {...}}``.
The observation is split by the env's :class:`~hlynr.registries.EntityLayout`: the own block,
embedded, is the query; each slot, embedded, is a key and a value
(``torch.nn.MultiheadAttention``). Slots whose validity flag is not set are masked out of the
softmax; with no valid slot the attention output is zero (never NaN). Without positional
encodings the output does not depend on the order of the slots. The features are
``MLP([own embedding | attention output])``.

The weights of the latest forward pass are kept in :attr:`AttentionExtractor.last_weights`
(``(batch, K)``, zero on invalid slots) and their sharpness (the mean over rows with a valid
slot of the largest weight) is accumulated for logging.
"""

from __future__ import annotations

from typing import Annotated

import torch as th
from gymnasium import spaces
from pydantic import Field
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

from hlynr.registries import EntityLayout


class AttentionExtractor(BaseFeaturesExtractor):
    """Own block as query, valid entity slots as keys and values (masked softmax)."""

    def __init__(self, observation_space: spaces.Box, layout: dict[str, int] | EntityLayout,
                 heads: Annotated[int, Field(ge=1, le=64, strict=True)] = 2,
                 key_dim: Annotated[int, Field(ge=1, le=1024, strict=True)] = 16,
                 mlp: list[Annotated[int, Field(ge=1, strict=True)]] | None = None) -> None:
        """``heads`` attention heads of ``key_dim`` each; ``mlp``: hidden sizes after attention
        (default ``[64]``); ``layout``: the env's entity layout (the model builder passes it)."""
        lay = layout if isinstance(layout, EntityLayout) else EntityLayout(**layout)
        size = int(observation_space.shape[0]) if len(observation_space.shape) == 1 else -1
        if size != lay.size:
            raise ValueError(f"the attention extractor needs flat observations of {lay.size} "
                             f"numbers ({lay}), got shape {observation_space.shape}; frame_stack "
                             "cannot be combined with it")
        hidden = list(mlp if mlp is not None else [64])
        embed = heads * key_dim
        super().__init__(observation_space, hidden[-1] if hidden else 2 * embed)
        self.layout = lay
        self.own = nn.Sequential(nn.Linear(lay.own_size, embed), nn.ReLU())
        self.slot = nn.Sequential(nn.Linear(lay.slot_size, embed), nn.ReLU())
        self.attention = nn.MultiheadAttention(embed, heads, batch_first=True)
        layers: list[nn.Module] = []
        width = 2 * embed
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        self.head = nn.Sequential(*layers)
        self.last_weights: th.Tensor | None = None
        self.last_valid: th.Tensor | None = None
        self.sharpness_sum, self.sharpness_rows = 0.0, 0

    def forward(self, observations: th.Tensor) -> th.Tensor:
        lay = self.layout
        own = observations[:, : lay.own_size]
        slots = observations[:, lay.own_size: lay.size].reshape(-1, lay.slots, lay.slot_size)
        valid = slots[..., lay.valid_index] > 0.5
        none = ~valid.any(dim=1)
        ignore = ~valid
        ignore[none, 0] = False  # one unmasked slot keeps the softmax finite; zeroed below
        q = self.own(own)
        kv = self.slot(slots)
        out, weights = self.attention(q.unsqueeze(1), kv, kv, key_padding_mask=ignore,
                                      need_weights=True)
        keep = (~none).to(out.dtype).unsqueeze(-1)
        out = out.squeeze(1) * keep
        weights = weights.squeeze(1) * keep
        with th.no_grad():
            self.last_weights, self.last_valid = weights.detach(), valid
            if (~none).any():
                self.sharpness_sum += float(weights[~none].max(dim=1).values.sum())
                self.sharpness_rows += int((~none).sum())
        return self.head(th.cat([q, out], dim=1))

    def pop_sharpness(self) -> float | None:
        """Mean largest attention weight since the last call (None if no row had a valid slot)."""
        if not self.sharpness_rows:
            return None
        value = self.sharpness_sum / self.sharpness_rows
        self.sharpness_sum, self.sharpness_rows = 0.0, 0
        return value


def attention_extractors(policy: nn.Module) -> list[AttentionExtractor]:
    """Every attention extractor of a policy (actor's first), without duplicates."""
    found: list[AttentionExtractor] = []
    for m in policy.modules():
        if isinstance(m, AttentionExtractor) and all(m is not f for f in found):
            found.append(m)
    actor = getattr(policy, "pi_features_extractor", None) or getattr(
        getattr(policy, "actor", None), "features_extractor", None)
    if isinstance(actor, AttentionExtractor):
        found.sort(key=lambda m: m is not actor)
    return found
