"""The ``kl`` regulariser of a recurrent actor: KL(snapshot || policy) on rollout sequences.

The policy side is evaluated the way the recurrent PPO update evaluates it: a minibatch is a
contiguous run of the flattened rollout (env-major, from a random start, wrapping around),
cut into sequences at episode starts and where the data switches to another env row
(:func:`~hlynr.algos.recurrent_ppo.buffers.padded_layout`); each sequence starts from the
LSTM (or GRU) state the rollout buffer stored for its first step, reset at an episode start,
and ``policy.get_distribution(obs, states, episode_starts)`` reads the padded sequences.

The snapshot (the frozen cloned policy) keeps its own recurrent state: at the end of every
rollout it is run over the whole rollout, every row's episode segments in one packed call,
each segment starting from a zero state at an episode start or from the snapshot's state at
the end of the previous rollout. Its action-head inputs are kept per step, so the snapshot's
distribution at any step of a minibatch is the one it had on the same observations with its
own history. Training starts with every row at an episode start (SB3 resets the env), so
the snapshot's carried state starts at zero.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch as th
from stable_baselines3.common.policies import BaseModel
from stable_baselines3.common.utils import obs_as_tensor
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from hlynr.algos.recurrent_ppo.buffers import padded_layout
from hlynr.imitation.actor import ActorView
from hlynr.imitation.clone import masked_mean
from hlynr.imitation.dataset import Obs, flatten_steps, take
from hlynr.imitation.terms import kl_per_sample


def _env_major(buffer: Any) -> tuple[Obs, np.ndarray, np.ndarray, np.ndarray]:
    """Observations, episode starts and the actor's stored ``(h, c)`` states, env-major flat.

    States come out as ``(N, n_layers, hidden)``; the buffer's own layout once sampling has
    started (SB3 and sb3-contrib flatten in place), computed the same way before.
    """
    if buffer.generator_ready:
        return (buffer.observations, buffer.episode_starts.reshape(-1),
                buffer.hidden_states_pi, buffer.cell_states_pi)

    def env_major(a: np.ndarray) -> np.ndarray:
        return a.swapaxes(0, 1).reshape(-1, *a.shape[2:])

    obs = buffer.observations
    obs = {k: env_major(v) for k, v in obs.items()} if isinstance(obs, dict) else env_major(obs)

    def states(a: np.ndarray) -> np.ndarray:  # (T, L, E, H) -> (E * T, L, H)
        return a.transpose(2, 0, 1, 3).reshape(-1, a.shape[1], a.shape[3])

    return (obs, env_major(buffer.episode_starts).reshape(-1),
            states(buffer.hidden_states_pi), states(buffer.cell_states_pi))


def _time_major(buffer: Any) -> tuple[Obs, np.ndarray]:
    """Observations ``(T, E, ...)`` and episode starts ``(T, E)`` of a full rollout buffer."""
    if not buffer.generator_ready:
        return buffer.observations, np.asarray(buffer.episode_starts)
    n_steps, n_rows = buffer.buffer_size, buffer.n_envs

    def time_major(a: np.ndarray) -> np.ndarray:  # env-major (E * T, ...) -> (T, E, ...)
        return a.reshape(n_rows, n_steps, *a.shape[1:]).swapaxes(0, 1)

    obs = buffer.observations
    obs = {k: time_major(v) for k, v in obs.items()} if isinstance(obs, dict) else time_major(obs)
    return obs, time_major(np.asarray(buffer.episode_starts).reshape(-1))


class SnapshotTrack:
    """The snapshot's action-head inputs over each rollout, with its own recurrent state."""

    def __init__(self, policy: Any) -> None:
        self.policy = policy
        self.state: tuple[th.Tensor, th.Tensor] | None = None
        self.latent: th.Tensor | None = None
        """``(N, latent)`` env-major: what the snapshot's action head reads at each step."""

    @th.no_grad()
    def run(self, obs: Obs, starts: np.ndarray) -> None:
        """Run over a rollout: ``obs`` ``(T, E, ...)`` (or a dict), ``starts`` ``(T, E)``."""
        pol = self.policy
        rnn: nn.LSTM | nn.GRU = pol.lstm_actor
        n_steps, n_rows = starts.shape
        dev = pol.device
        if self.state is None:
            zeros = th.zeros(rnn.num_layers, n_rows, rnn.hidden_size, device=dev)
            self.state = (zeros, zeros.clone())
        feats = BaseModel.extract_features(pol, obs_as_tensor(flatten_steps(obs), dev),
                                           pol.pi_features_extractor)
        feats = feats.reshape(n_steps, n_rows, -1).transpose(0, 1).reshape(n_steps * n_rows, -1)
        # segments in env-major order: a row's first step and every episode start
        first = starts.T.astype(bool).copy()
        first[:, 0] = True
        begin = np.flatnonzero(first.reshape(-1))
        end = np.append(begin[1:], n_steps * n_rows)
        row, offset = begin // n_steps, begin % n_steps
        lengths = end - begin
        max_len = int(lengths.max())
        steps = np.minimum(begin[None, :] + np.arange(max_len)[:, None], end[None, :] - 1)
        padded = feats[th.as_tensor(steps, device=dev)]  # (max_len, n_seg, F)
        keep = th.as_tensor((offset == 0) & ~starts[0, row].astype(bool), dtype=th.float32,
                            device=dev).view(1, -1, 1)
        t_row = th.as_tensor(row, device=dev)
        h0, c0 = (s[:, t_row] * keep for s in self.state)
        packed = pack_padded_sequence(padded, th.as_tensor(lengths), enforce_sorted=False)
        if isinstance(rnn, nn.GRU):
            out, h_n = rnn(packed, h0.contiguous())
            c_n = c0  # a GRU has no cell state: carried unchanged (zeros), as the policy does
        else:
            out, (h_n, c_n) = rnn(packed, (h0.contiguous(), c0.contiguous()))
        out, _ = pad_packed_sequence(out, total_length=max_len)  # (max_len, n_seg, H)
        seg = np.cumsum(first.reshape(-1)) - 1  # segment of every env-major step
        t_in_seg = np.arange(n_steps * n_rows) - begin[seg]
        latent = out[th.as_tensor(t_in_seg, device=dev), th.as_tensor(seg, device=dev)]
        self.latent = pol.mlp_extractor.forward_actor(latent)
        last = th.as_tensor(seg[np.arange(1, n_rows + 1) * n_steps - 1], device=dev)
        self.state = (h_n[:, last].clone(), c_n[:, last].clone())  # each row's final segment

    def distribution(self, rows: th.Tensor) -> Any:
        """The snapshot's action distribution at env-major rollout steps ``rows``."""
        assert self.latent is not None, "run() over the rollout first"
        return self.policy._get_action_dist_from_latent(self.latent[rows])


class RecurrentKLTerm:
    """``KL(snapshot || policy)`` on sequences of the current rollout (module docstring)."""

    def __init__(self, view: ActorView, snapshot_policy: Any, batch_size: int,
                 rng: np.random.Generator) -> None:
        self.view, self.batch_size, self.rng = view, batch_size, rng
        self.track = SnapshotTrack(snapshot_policy)

    def on_rollout_end(self) -> None:
        """Run the snapshot over the rollout just collected."""
        self.track.run(*_time_major(self.view.model.rollout_buffer))

    def __call__(self) -> th.Tensor:
        buf = self.view.model.rollout_buffer
        obs, starts, h, c = _env_major(buf)
        total = len(starts)
        size = min(self.batch_size, total)
        inds = (int(self.rng.integers(total)) + np.arange(size)) % total
        env_change = (inds % buf.buffer_size == 0).astype(np.float32)
        seq_starts, positions, _, _ = padded_layout(starts[inds], env_change)
        pad = positions < 0
        rows = np.where(pad, inds[0], inds[np.where(pad, 0, positions)])
        dev = self.view.policy.device
        first = inds[seq_starts]
        states = tuple(th.as_tensor(np.ascontiguousarray(s[first].swapaxes(0, 1)), device=dev)
                       for s in (h, c))
        episode_starts = th.as_tensor(np.where(pad, 0.0, starts[rows]), dtype=th.float32,
                                      device=dev)
        dist, _ = self.view.policy.get_distribution(self.view.obs_tensor(take(obs, rows)),
                                                    states, episode_starts)
        with th.no_grad():
            p = self.track.distribution(th.as_tensor(rows, device=dev))
        mask = th.as_tensor(~pad, dtype=th.float32, device=dev)
        return masked_mean(kl_per_sample(p, dist), mask)
