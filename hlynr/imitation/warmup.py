"""Critic warm-up: fit the value function on rollouts of the cloned policy, actor frozen.

A cloned actor next to a random critic is a known way to lose the clone: the first advantages
are noise and the first PPO updates undo the imitation. Before the first policy update the
warm-up collects ``rollouts`` rollouts with the model's own ``collect_rollouts`` (so the
returns are exactly the GAE returns PPO would train on) and regresses the value function on
them for ``epochs`` epochs each. Only parameters that the value depends on and the action
distribution does not are updated (with a shared features extractor or a shared LSTM, only the
value head moves); the actor is left exactly as cloned.

A centralised or privileged critic (MAPPO, AsymmetricPPO) is fitted on the critic rows its
rollouts store next to the local observations, in its own units: with value normalisation the
rollout's returns first update the ValueNorm statistics (as MAPPO's update does with every
rollout) and the critic regresses the normalised returns, so the statistics and the critic's
output stay consistent for the RL update that follows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch as th
from gymnasium import spaces
from sb3_contrib.common.recurrent.type_aliases import (
    RecurrentDictRolloutBufferSamples,
    RecurrentRolloutBufferSamples,
)

from hlynr.algos.centralised import MAPPO
from hlynr.imitation.clone import masked_mean

_RECURRENT_SAMPLES = (RecurrentRolloutBufferSamples, RecurrentDictRolloutBufferSamples)


@dataclass
class WarmupRound:
    """Value loss on one warm-up rollout before and after fitting it."""

    rollout: int
    value_loss_before: float
    value_loss_after: float


def _actions(model: Any, batch: Any) -> th.Tensor:
    if isinstance(model.action_space, spaces.Discrete):
        return batch.actions.long().flatten()
    return batch.actions


def _evaluate(model: Any, batch: Any) -> tuple[th.Tensor, th.Tensor, th.Tensor]:
    """``(values, log_prob, mask)`` for a rollout minibatch (recurrent or not)."""
    policy, actions = model.policy, _actions(model, batch)
    if isinstance(model, MAPPO):
        local, critic = model.split_rows(batch.observations)
        values, log_prob, _ = policy.evaluate_centralised(local, critic, actions)
        return values.flatten(), log_prob, th.ones_like(values.flatten())
    if isinstance(batch, _RECURRENT_SAMPLES):
        values, log_prob, _ = policy.evaluate_actions(batch.observations, actions,
                                                      batch.lstm_states, batch.episode_starts)
        return values.flatten(), log_prob, batch.mask.float()
    values, log_prob, _ = policy.evaluate_actions(batch.observations, actions)
    return values.flatten(), log_prob, th.ones_like(values.flatten())


def _targets(model: Any, batch: Any) -> th.Tensor:
    """Value targets in the critic's units (a centralised critic's are normalised)."""
    returns = batch.returns.flatten()
    return model.policy.value_norm.normalize(returns) if isinstance(model, MAPPO) else returns


def _batch_size(model: Any) -> int | None:
    return getattr(model, "batch_size", None)


def critic_only_parameters(model: Any) -> list[th.nn.Parameter]:
    """Parameters the value uses and the action distribution does not (on a real batch)."""
    batch = next(iter(model.rollout_buffer.get(_batch_size(model))))
    params = list(model.policy.parameters())
    values, log_prob, _ = _evaluate(model, batch)
    used_v = th.autograd.grad(values.sum(), params, allow_unused=True, retain_graph=True)
    used_a = th.autograd.grad(log_prob.sum(), params, allow_unused=True)
    return [p for p, gv, ga in zip(params, used_v, used_a) if gv is not None and ga is None]


def value_loss(model: Any) -> float:
    """Mean squared error of the value function on the model's current rollout buffer (in the
    critic's units: normalised for a centralised critic)."""
    total = count = 0.0
    with th.no_grad():
        for batch in model.rollout_buffer.get(_batch_size(model)):
            values, _, mask = _evaluate(model, batch)
            total += float((((_targets(model, batch) - values) ** 2) * mask).sum())
            count += float(mask.sum())
    return total / max(count, 1.0)


def warm_up_critic(model: Any, rollouts: int, epochs: int, learning_rate: float,
                   on_round: Any = None) -> list[WarmupRound]:
    """Run the warm-up on ``model`` (an on-policy SB3 model with its env); returns each round.

    The model's timestep counter is left where it was: the warm-up's env steps do not use up any
    of the run's ``total_timesteps``.
    """
    start = model.num_timesteps
    total = rollouts * model.n_steps * model.n_envs
    _, callback = model._setup_learn(total, callback=None, reset_num_timesteps=True)
    callback.on_training_start(locals(), globals())
    optimizer: th.optim.Optimizer | None = None
    out = []
    for r in range(rollouts):
        model.policy.set_training_mode(False)
        model.collect_rollouts(model.env, callback, model.rollout_buffer, model.n_steps)
        model.policy.set_training_mode(True)
        if isinstance(model, MAPPO):
            model.update_value_norm()  # as its own update does, before fitting the targets
        if optimizer is None:
            optimizer = th.optim.Adam(critic_only_parameters(model), lr=learning_rate)
        before = value_loss(model)
        for _ in range(epochs):
            for batch in model.rollout_buffer.get(_batch_size(model)):
                values, _, mask = _evaluate(model, batch)
                loss = masked_mean((_targets(model, batch) - values) ** 2, mask)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        result = WarmupRound(r, before, value_loss(model))
        out.append(result)
        if on_round is not None:
            on_round(result)
    model.policy.set_training_mode(False)
    model.policy.optimizer.zero_grad()
    model.num_timesteps = start
    return out
