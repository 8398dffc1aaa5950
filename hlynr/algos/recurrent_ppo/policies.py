"""Recurrent actor-critic policies that run a whole padded minibatch through one LSTM call.

They subclass sb3-contrib's policies and override ``_process_sequence``, the function that
feeds features through an LSTM while resetting the state at episode starts (plus ``__init__``
for the optional GRU cell and Adam's ``fused`` switch).

sb3-contrib falls back to a Python loop over time steps (one LSTM call per step) as soon as *any*
element of the batch is an episode start. In training the recurrent rollout buffer cuts sequences
at episode starts (and at environment changes), so an episode start can only be the first element
of a padded sequence; during rollouts and ``predict()`` the sequence length is 1, so it is also
the first element. Resetting the state of those sequences up front (the same multiplication by
``1 - episode_start`` that the loop does at step 0) and making one LSTM call computes the same
function. The loop is kept as a fallback for sequences with an episode start past their first
element (impossible with the buffer; counted in :attr:`FastRecurrentMixin.n_sequence_fallbacks`).
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import torch as th
from sb3_contrib.common.recurrent.policies import (
    RecurrentActorCriticCnnPolicy,
    RecurrentActorCriticPolicy,
    RecurrentMultiInputActorCriticPolicy,
)
from sb3_contrib.common.recurrent.type_aliases import RNNStates
from torch import _VF, nn

from hlynr.algos.distributions import has_closed_form, log_prob_entropy

if TYPE_CHECKING:
    # The mixin only ever sits in front of sb3-contrib's recurrent policy (or a subclass): type
    # it as one so its uses of the policy's attributes and methods are checked.
    _PolicyBase = RecurrentActorCriticPolicy
else:
    _PolicyBase = object

#: Whether torch exposes the private pieces of ``nn.LSTM.forward`` that :func:`_run_rnn` calls.
_FAST_LSTM = hasattr(_VF, "lstm") and hasattr(nn.LSTM, "_update_flat_weights")

#: Recurrent cells selectable with ``policy_kwargs={"rnn_type": ...}``.
RNN_TYPES = ("lstm", "gru")


def _gru_sequence(
    features_sequence: th.Tensor, hidden: th.Tensor, starts: th.Tensor, gru: nn.GRU, step_loop: bool
) -> tuple[th.Tensor, th.Tensor]:
    """GRU over ``(seq_len, n_seq, features)``, zeroing ``hidden`` where ``starts`` is 1.

    With ``step_loop`` the state is reset at every time step (one call per step), else only
    before the first step (one call).
    """
    n_seq = hidden.shape[1]
    if not step_loop:
        return gru(features_sequence, (1.0 - starts[0]).view(1, n_seq, 1) * hidden)
    outputs = []
    for x_t, start_t in zip(features_sequence, starts, strict=True):
        out_t, hidden = gru(x_t.unsqueeze(0), (1.0 - start_t).view(1, n_seq, 1) * hidden)
        outputs.append(out_t)
    return th.cat(outputs), hidden


class FastRecurrentMixin(_PolicyBase):
    """Replaces sb3-contrib's per-step LSTM loop by one call per padded batch of sequences.

    Extra ``policy_kwargs`` (on top of sb3-contrib's):

    * ``rnn_type``: ``"lstm"`` (default, sb3-contrib's network) or ``"gru"``. A GRU replaces
      both LSTMs (same ``lstm_hidden_size``, ``n_lstm_layers``, ``lstm_kwargs``, attribute
      names ``lstm_actor``/``lstm_critic``). It has no cell state: the second element of each
      ``(h, c)`` state pair is carried unchanged (zeros), so buffers, ``predict`` and the rollout
      code work as for an LSTM. GRU models load only in hlynr.

    It also gives Adam (sb3's default optimizer) its fused implementation (one kernel for all
    parameters instead of about ten small ops per parameter) unless ``optimizer_kwargs`` set
    ``foreach`` or ``fused``. Its updates agree with sb3-contrib's Adam to float32 rounding
    (it orders a few operations differently; see the tests).
    """

    #: Number of ``_process_sequence`` calls that needed the per-step loop (an episode start
    #: past the first element of a sequence). Stays 0 in normal training and inference.
    n_sequence_fallbacks: int = 0
    #: Number of ``_process_sequence`` calls that took the single-call path.
    n_sequence_calls: int = 0
    #: sb3-contrib builds ``nn.LSTM``s; ``rnn_type="gru"`` replaces them by ``nn.GRU``s.
    lstm_actor: nn.LSTM | nn.GRU  # type: ignore[assignment]  # sb3-contrib declares nn.LSTM
    lstm_critic: nn.LSTM | nn.GRU | None  # type: ignore[assignment]  # sb3-contrib: nn.LSTM | None
    rnn_type: str

    def __init__(self, *args: Any, rnn_type: str = "lstm", **kwargs: Any) -> None:
        if rnn_type not in RNN_TYPES:
            raise ValueError(
                f"policy_kwargs rnn_type must be one of {', '.join(RNN_TYPES)}; got {rnn_type!r}"
            )
        super().__init__(*args, **kwargs)
        self.rnn_type = rnn_type
        if rnn_type == "gru":
            self.lstm_actor = self._gru_like(self.lstm_actor)
            if self.lstm_critic is not None:
                self.lstm_critic = self._gru_like(self.lstm_critic)
            lr = self.optimizer.param_groups[0]["lr"]
            # sb3 types optimizer_class as type[Optimizer], whose own __init__ takes no lr.
            self.optimizer = self.optimizer_class(  # type: ignore[call-arg]
                self.parameters(), lr=lr, **self.optimizer_kwargs
            )
        self.use_fast_adam()

    def _gru_like(self, rnn: nn.RNNBase) -> nn.GRU:
        """A GRU with the sizes of ``rnn`` (sb3-contrib's LSTM) and the policy's ``lstm_kwargs``."""
        return nn.GRU(
            rnn.input_size, rnn.hidden_size, num_layers=rnn.num_layers, **self.lstm_kwargs
        )

    def use_fast_adam(self) -> None:
        """Switch a default-configured Adam to ``fused=True`` (also after loading its state).

        Only where fused Adam exists (parameters on the CPU or CUDA); otherwise Adam is left
        as configured.
        """
        if (
            not isinstance(self.optimizer, th.optim.Adam)
            or "foreach" in self.optimizer_kwargs
            or "fused" in self.optimizer_kwargs
        ):
            return
        params = [p for group in self.optimizer.param_groups for p in group["params"]]
        if all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params):
            for group in self.optimizer.param_groups:
                group["foreach"] = False
                group["fused"] = True

    # sb3-contrib's is a staticmethod annotated as returning ``(Tensor, Tensor)``; it returns the
    # output and the ``(h, c)`` pair, as this one does.
    def _process_sequence(  # type: ignore[override]
        self,
        features: th.Tensor,
        lstm_states: tuple[th.Tensor, th.Tensor],
        episode_starts: th.Tensor,
        lstm: nn.LSTM | nn.GRU,
    ) -> tuple[th.Tensor, tuple[th.Tensor, th.Tensor]]:
        """Run ``features`` (``(n_seq * seq_len, features_dim)``, sequence-major) through ``lstm``.

        :param features: input features, sequences laid out one after another.
        :param lstm_states: ``(h, c)``, each ``(n_layers, n_seq, hidden)``, state before the
            first element of each sequence (``c`` unused by a GRU).
        :param episode_starts: ``(n_seq * seq_len,)`` 1.0 where a new episode starts.
        :param lstm: the LSTM (or GRU) to run.
        :return: output ``(n_seq * seq_len, hidden)`` and the final ``(h, c)`` states.
        """
        n_seq = lstm_states[0].shape[1]
        features_sequence = features.reshape((n_seq, -1, lstm.input_size)).swapaxes(0, 1)
        starts = episode_starts.reshape((n_seq, -1)).swapaxes(0, 1)  # (seq_len, n_seq)
        step_loop = starts.shape[0] > 1 and bool(starts[1:].any())
        if step_loop:
            self.n_sequence_fallbacks += 1
        else:
            self.n_sequence_calls += 1
        if isinstance(lstm, nn.GRU):
            output, hidden = _gru_sequence(
                features_sequence, lstm_states[0], starts, lstm, step_loop
            )
            new_states = (hidden, lstm_states[1])
        elif step_loop:
            # Annotated as returning two tensors: the second is the (h, c) pair (see above).
            return RecurrentActorCriticPolicy._process_sequence(  # type: ignore[return-value]
                features, lstm_states, episode_starts, lstm
            )
        else:
            # Same arithmetic as sb3-contrib's loop at step 0 (a no-op where the start flag is 0).
            keep = (1.0 - starts[0]).view(1, n_seq, 1)
            output, new_states = lstm(
                features_sequence, (keep * lstm_states[0], keep * lstm_states[1])
            )
        return th.flatten(output.transpose(0, 1), start_dim=0, end_dim=1), new_states

    def evaluate_real_rows(
        self,
        obs: th.Tensor | dict[str, th.Tensor],
        actions: th.Tensor,
        lstm_states: RNNStates,
        positions: th.Tensor,
        n_seq: int,
        max_len: int,
    ) -> tuple[th.Tensor, th.Tensor, th.Tensor | None]:
        """``evaluate_actions`` from the real rows of a minibatch (no padded input at all).

        The features extractor runs on the real rows only; its output is scattered into a
        zero-padded, time-major ``(max_len, n_seq, features)`` input for the LSTMs. What the
        padded slots hold does not matter: they come after the real steps of their sequence,
        an LSTM is causal, and their outputs are dropped (they get no gradient, so they add
        exact zeros to the weight gradients). The LSTM outputs at ``positions`` then feed the
        MLP heads and the distribution.

        :param obs: observations of the real rows, ``(batch, ...)`` (or a dict of them).
        :param actions: actions of the real rows.
        :param lstm_states: ``RNNStates`` before each sequence, already reset at episode starts.
        :param positions: ``(batch,)`` time-major padded index of each row (``t * n_seq + s``).
        :param n_seq: number of sequences.
        :param max_len: length of the longest sequence.
        :return: values ``(batch,)``, log-probabilities ``(batch,)`` and entropies (``None``
            for distributions without one).
        """
        features = self.extract_features(obs)
        # A pair (actor's, critic's) exactly when the features extractor is not shared.
        if isinstance(features, tuple):
            pi_features, vf_features = features
        else:
            pi_features = vf_features = features
        lstm_actor, lstm_critic = self.lstm_actor, self.lstm_critic
        padded_pi = _time_major_padded(pi_features, positions, n_seq, max_len)
        latent_pi = _run_rnn(lstm_actor, padded_pi, lstm_states.pi).index_select(0, positions)
        if lstm_critic is not None:
            padded_vf = (
                padded_pi
                if vf_features is pi_features
                else _time_major_padded(vf_features, positions, n_seq, max_len)
            )
            latent_vf = _run_rnn(lstm_critic, padded_vf, lstm_states.vf).index_select(
                0, positions
            )
        elif self.shared_lstm:
            latent_vf = latent_pi.detach()
        else:
            critic = self.critic
            assert critic is not None, "sb3-contrib builds it when the critic has no LSTM"
            latent_vf = critic(vf_features)
        latent_pi = self.mlp_extractor.forward_actor(latent_pi)
        latent_vf = self.mlp_extractor.forward_critic(latent_vf)
        action_dist = self.action_dist
        if has_closed_form(action_dist):
            action_out = self.action_net(latent_pi)
            log_prob, entropy = log_prob_entropy(
                action_dist, action_out, getattr(self, "log_std", None), actions
            )
            values = self.value_net(latent_vf).flatten()
            return values, log_prob, entropy
        distribution = self._get_action_dist_from_latent(latent_pi)
        log_prob = distribution.log_prob(actions)
        values = self.value_net(latent_vf).flatten()
        return values, log_prob, distribution.entropy()


def _time_major_padded(
    features: th.Tensor, positions: th.Tensor, n_seq: int, max_len: int
) -> th.Tensor:
    """``(max_len, n_seq, features)`` zeros with row ``i`` of ``features`` at ``positions[i]``."""
    padded = features.new_zeros((max_len * n_seq, features.shape[1]))
    return padded.index_copy_(0, positions, features).view(max_len, n_seq, -1)


def _run_rnn(
    rnn: nn.LSTM | nn.GRU, padded: th.Tensor, states: tuple[th.Tensor, ...]
) -> th.Tensor:
    """Output ``(max_len * n_seq, hidden)`` (time-major) of ``rnn`` from ``states`` (``(h, c)``).

    A plain ``nn.LSTM`` (unidirectional, time-major, no projection) is called through the same
    ``_VF.lstm`` kernel its ``forward`` ends in, skipping only ``forward``'s argument checks
    (the shapes here are built to match); anything else, or a torch without these private
    helpers, goes through the module.
    """
    if (type(rnn) is nn.LSTM and _FAST_LSTM
            and not (rnn.bidirectional or rnn.batch_first or rnn.proj_size)):
        rnn._update_flat_weights()  # as forward does, in case a weight Parameter was replaced
        output = _VF.lstm(
            padded,
            states,
            rnn._flat_weights,  # type: ignore[arg-type]  # Optional entries, all set in an LSTM
            rnn.bias,
            rnn.num_layers,
            float(rnn.dropout),
            rnn.training,
            False,
            False,
        )[0]
    elif isinstance(rnn, nn.GRU):
        output, _ = rnn(padded, states[0])
    else:
        output, _ = rnn(padded, states)
    return output.view(-1, output.shape[-1])


_P = TypeVar("_P", bound=FastRecurrentMixin)


def _expose_signature(cls: type[_P]) -> type[_P]:
    """Give ``cls.__init__`` the full signature of its sb3-contrib base plus ``rnn_type``.

    The mixin's ``__init__`` forwards ``*args, **kwargs``; tools that read constructor
    signatures (hlynr's config validation of ``policy_kwargs``) then see every real argument.
    """
    base = next(
        b
        for b in cls.__mro__
        if b.__module__.startswith("sb3_contrib.") and issubclass(b, RecurrentActorCriticPolicy)
    )
    signature = inspect.signature(base.__init__)
    rnn_type = inspect.Parameter(
        "rnn_type",
        inspect.Parameter.KEYWORD_ONLY,
        default="lstm",
        annotation=Literal["lstm", "gru"],
    )

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        FastRecurrentMixin.__init__(self, *args, **kwargs)

    # Functions take arbitrary attributes; inspect.signature reads this one.
    __init__.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[*signature.parameters.values(), rnn_type]
    )
    __init__.__doc__ = (
        f"Same arguments as ``{base.__name__}``, plus ``rnn_type`` (``'lstm'`` or ``'gru'``)."
    )
    __init__.__qualname__ = f"{cls.__qualname__}.__init__"
    cls.__init__ = __init__  # type: ignore[method-assign]  # replacing __init__ is the point
    return cls


@_expose_signature
class FastRecurrentActorCriticPolicy(FastRecurrentMixin, RecurrentActorCriticPolicy):
    """``MlpLstmPolicy``: sb3-contrib's ``RecurrentActorCriticPolicy``, one LSTM call per batch."""


@_expose_signature
class FastRecurrentActorCriticCnnPolicy(FastRecurrentMixin, RecurrentActorCriticCnnPolicy):
    """``CnnLstmPolicy``: sb3-contrib's CNN recurrent policy with one LSTM call per batch."""


@_expose_signature
class FastRecurrentMultiInputActorCriticPolicy(
    FastRecurrentMixin, RecurrentMultiInputActorCriticPolicy
):
    """``MultiInputLstmPolicy``: sb3-contrib's dict-observation policy, one LSTM call per batch."""


MlpLstmPolicy = FastRecurrentActorCriticPolicy
CnnLstmPolicy = FastRecurrentActorCriticCnnPolicy
MultiInputLstmPolicy = FastRecurrentMultiInputActorCriticPolicy

#: sb3-contrib policy class -> hlynr fast equivalent (used when loading sb3-contrib models).
FAST_POLICY_OF: dict[type, type] = {
    RecurrentActorCriticPolicy: FastRecurrentActorCriticPolicy,
    RecurrentActorCriticCnnPolicy: FastRecurrentActorCriticCnnPolicy,
    RecurrentMultiInputActorCriticPolicy: FastRecurrentMultiInputActorCriticPolicy,
}
#: hlynr fast policy class -> sb3-contrib original (stored in saved zips so sb3-contrib loads them).
SB3_POLICY_OF: dict[type, type] = {fast: orig for orig, fast in FAST_POLICY_OF.items()}
