"""hlynr's PPO: SB3's PPO with a faster ``train()``, same results to float32 rounding.

Subclass of ``stable_baselines3.PPO`` replacing only ``train()``. Per ``train()`` call:

* the rollout becomes tensors once, and each epoch gathers every field once, in the order of
  SB3's permutation (the same ``np.random.permutation`` draw), so the minibatches are SB3's
  (:mod:`.rollout`);
* each minibatch is one actor-critic pass on flat parameters, the actor and critic MLPs stacked
  where they have the same shape, with closed-form log-probabilities and entropies
  (:mod:`.actor_critic`);
* the gradient is one flat tensor: clipped with ``clip_grad_norm_``'s norm and stepped with one
  fused Adam kernel call (the shared flat Adam; other optimizers and optimizers with step hooks
  step the ordinary way, through ``optimizer.step()``);
* the logged statistics stay tensors and become Python numbers once per call; with
  ``target_kl``, approx KL is read every minibatch, before its optimizer step, as SB3 does.

Where the fast pass does not apply (gSDE, a features extractor with parameters, a custom policy,
``MultiDiscrete``/``MultiBinary`` actions), the model warns once, naming the reason, and runs
SB3's own ``train()``. Models save SB3's policy class, so ``stable_baselines3.PPO.load`` reads
them and this class reads SB3's files.
"""

from __future__ import annotations

import warnings

import torch as th
from gymnasium import spaces
from stable_baselines3 import PPO as Sb3PPO
from stable_baselines3.common.buffers import DictRolloutBuffer, RolloutBuffer

from hlynr.algos.ppo.actor_critic import FusedActorCritic, unsupported
from hlynr.algos.ppo.loss import ppo_loss
from hlynr.algos.ppo.records import clip_ranges, record_update
from hlynr.algos.ppo.rollout import RolloutTensors, buffer_minibatches

FAST_STATE = "_fast_pass"
"""The model attribute holding the :class:`FusedActorCritic` (runtime state: never saved)."""
FALLBACK_STATE = "_fast_pass_fallback"
"""The model attribute holding the reason SB3's ``train()`` runs instead (warned once)."""


class PPO(Sb3PPO):
    """Drop-in for ``stable_baselines3.PPO`` (same arguments, policies, files and numbers; faster update)."""

    def _excluded_save_params(self) -> list[str]:
        """SB3's list plus the fast pass (runtime state)."""
        return [*super()._excluded_save_params(), FAST_STATE, FALLBACK_STATE]

    def fast_pass(self) -> FusedActorCritic | None:
        """The policy's :class:`FusedActorCritic`, (re)built when stale; None: SB3's ``train()`` runs."""
        fused: FusedActorCritic | None = getattr(self, FAST_STATE, None)
        if fused is not None and fused.current(self.policy):
            return fused
        reason = unsupported(self.policy)
        if reason is not None:
            if getattr(self, FALLBACK_STATE, None) != reason:
                warnings.warn(f"PPO runs SB3's update, not hlynr's fast one: {reason}", stacklevel=3)
            setattr(self, FALLBACK_STATE, reason)
            setattr(self, FAST_STATE, None)
            return None
        fused = FusedActorCritic(self.policy)
        setattr(self, FAST_STATE, fused)
        setattr(self, FALLBACK_STATE, None)
        return fused

    def train(self) -> None:
        """SB3's PPO update, with fewer and larger operations (module docstring)."""
        fused = self.fast_pass()
        if fused is None:
            super().train()
            return
        self.policy.set_training_mode(True)
        self._update_learning_rate(self.policy.optimizer)
        clip_range, clip_range_vf = clip_ranges(self)
        discrete = isinstance(self.action_space, spaces.Discrete)
        buffer = self.rollout_buffer
        rollout = RolloutTensors(buffer, discrete) if type(buffer) in (RolloutBuffer, DictRolloutBuffer) else None
        fused.prepare()
        ent_coef, vf_coef, target_kl = self.ent_coef, self.vf_coef, self.target_kl
        # Per minibatch: policy loss, clip fraction, value loss, entropy loss, approx KL.
        stats: list[th.Tensor] = []
        last_epoch_start = 0
        loss = th.zeros(())
        steps = 0
        continue_training = True
        for epoch in range(self.n_epochs):
            last_epoch_start = len(stats)
            batches = (rollout.epoch(self.batch_size, self.normalize_advantage) if rollout is not None
                       else buffer_minibatches(buffer, self.batch_size, self.normalize_advantage, discrete))
            for batch in batches:
                action_out, log_std, values = fused.forward(batch.observations)
                grads = ppo_loss(action_out, log_std, values, batch, clip_range, clip_range_vf, ent_coef, vf_coef)
                loss = grads.loss
                stats.append(grads.stats)
                if target_kl is not None:
                    approx_kl_div = grads.stats[4].cpu().numpy()
                    if approx_kl_div > 1.5 * target_kl:
                        continue_training = False
                        if self.verbose >= 1:
                            print(f"Early stopping at step {epoch} due to reaching max kl: {approx_kl_div:.2f}")
                        break
                fused.backward(grads)
                fused.clip_and_step(self.max_grad_norm)
                steps += 1
            self._n_updates += 1
            if not continue_training:
                break
        if steps:
            fused.expose_grads()
        table = th.stack(stats).cpu()
        record_update(self, table[:, :4], list(table[last_epoch_start:, 4].numpy()), loss, clip_range, clip_range_vf)
