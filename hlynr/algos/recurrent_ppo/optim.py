"""Gradient clipping with the arithmetic of ``torch.nn.utils.clip_grad_norm_``, minus its overhead.

``clip_grad_norm_`` re-lists the parameters, filters and groups their gradients by device and
dtype, and checks foreach support on every call. For one policy all gradients share a device
and dtype, so :func:`clip_grad_norm` does the same foreach operations directly: the per-tensor
norms, their 2-norm, the clamped coefficient and the in-place scaling. The result is
bit-identical (tested).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch as th

from hlynr.algos.fused_adam import fused_adam_step

_has_foreach_support: Callable[[list[th.Tensor], th.device], bool] | None
try:  # private helpers of torch (present in the supported range); without them: torch's public path
    from torch.nn.utils.clip_grad import _has_foreach_support
except ImportError:  # pragma: no cover - depends on the torch version
    _has_foreach_support = None


@th.no_grad()
def clip_grad_norm(parameters: Sequence[th.Tensor], max_norm: float) -> th.Tensor:
    """Scale the gradients of ``parameters`` in place so their total 2-norm is <= ``max_norm``.

    Same result as ``th.nn.utils.clip_grad_norm_(parameters, max_norm)``; parameters without a
    gradient are skipped. Falls back to it when the gradients do not all share one device and
    dtype with foreach support.

    :return: the total norm of the gradients before clipping.
    """
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return th.tensor(0.0)
    first = grads[0]
    if (
        _has_foreach_support is None
        or not all(g.device == first.device and g.dtype == first.dtype for g in grads)
        or not _has_foreach_support(grads, first.device)
    ):
        return th.nn.utils.clip_grad_norm_(parameters, max_norm)
    total_norm = th.linalg.vector_norm(th.stack(th._foreach_norm(grads, 2.0)), 2.0)
    clip_coef = th.clamp(max_norm / (total_norm + 1e-6), max=1.0)
    th._foreach_mul_(grads, clip_coef)
    return total_norm


class FlatFusedAdam:
    """Steps a fused ``th.optim.Adam`` over one flat buffer instead of one tensor per parameter.

    On the CPU, foreach and fused optimizer kernels still loop over the parameter tensors with
    a dispatch per tensor, and ``clip_grad_norm_`` does too (about 20 tensors for an LSTM
    policy). Here the parameters, Adam's ``exp_avg``/``exp_avg_sq`` and its ``step`` counters
    are views into one flat tensor each, so per minibatch:

    * the gradients are copied into one flat gradient (one ``cat``);
    * clipping takes ``clip_grad_norm_``'s norm (the same foreach per-tensor norms, so the
      same clipping coefficient bit for bit) and scales the flat gradient in one operation;
    * Adam is one ``_fused_adam_`` call on the flat tensors (its math is elementwise, so this is
      the same update), and one ``add_`` advances every parameter's ``step``.

    The optimizer keeps its ordinary per-parameter state (views into the flat buffers), so
    ``state_dict``/``load_state_dict``, saving and sb3-contrib's loading are unchanged. After
    a load (the state tensors are no longer the views) :meth:`bind` rebuilds the buffers from
    the loaded values.

    Arithmetic: the clipped gradients equal ``clip_grad_norm_``'s bit for bit, and the fused
    Adam kernel computes each element independently, so the update is the per-parameter fused
    Adam update (tested to float32 rounding against ``clip_grad_norm_`` + Adam).
    """

    def __init__(self, optimizer: th.optim.Optimizer) -> None:
        self.optimizer = optimizer
        self._params: list[th.Tensor] = []
        self._flat: tuple[th.Tensor, th.Tensor, th.Tensor, th.Tensor, th.Tensor] | None = None

    @staticmethod
    def supports(optimizer: th.optim.Optimizer) -> bool:
        """True for a plain fused Adam with one group of float32 parameters on one device.

        An optimizer with step hooks (e.g. a fine-tuning regulariser's pre-hook) is stepped the
        ordinary way, through ``optimizer.step()``, so that its hooks run.
        """
        if type(optimizer) is not th.optim.Adam or len(optimizer.param_groups) != 1:
            return False
        if getattr(optimizer, "_optimizer_step_pre_hooks", None) or getattr(
            optimizer, "_optimizer_step_post_hooks", None
        ):
            return False
        if not hasattr(th, "_fused_adam_") or not hasattr(th, "_foreach_norm"):
            return False  # private kernels missing in this torch version: the ordinary step
        group = optimizer.param_groups[0]
        params = group["params"]
        if not params or not group.get("fused") or group["amsgrad"] or group["differentiable"]:
            return False
        if group.get("decoupled_weight_decay", False) or group["capturable"]:
            return False
        if isinstance(group["lr"], th.Tensor) or isinstance(group["betas"][0], th.Tensor):
            return False
        device = params[0].device
        return all(
            p.dtype == th.float32 and p.device == device and p.requires_grad for p in params
        )

    def _is_bound(self, params: list[th.Tensor]) -> bool:
        """Whether parameters and state are still the views :meth:`bind` made."""
        if self._flat is None or len(params) != len(self._params):
            return False
        flat_p = self._flat[0]
        offset = 0
        for p, q in zip(params, self._params, strict=True):
            if p is not q or p.data_ptr() != flat_p[offset:].data_ptr():
                return False
            state = self.optimizer.state.get(p)
            if not state or state["exp_avg"].data_ptr() != self._flat[2][offset:].data_ptr():
                return False
            offset += p.numel()
        return True

    def bind(self) -> bool:
        """Make parameters and Adam state views into flat buffers (if not already).

        :return: False when the optimizer is not supported (use it the ordinary way) or the
            per-parameter step counts differ (a parameter skipped some steps).
        """
        if not self.supports(self.optimizer):
            return False
        params: list[th.Tensor] = list(self.optimizer.param_groups[0]["params"])
        if self._is_bound(params):
            return True
        states = [self.optimizer.state.get(p) for p in params]
        if any(states) and not all(states):
            return False
        loaded = [s for s in states if s is not None]  # all of them where all(states)
        steps = [float(s["step"]) for s in loaded] if all(states) else [0.0]
        if len(set(steps)) != 1:
            return False
        with th.no_grad():
            flat_p = th.cat([p.detach().reshape(-1) for p in params])
            if all(states):
                flat_m = th.cat([s["exp_avg"].reshape(-1) for s in loaded])
                flat_v = th.cat([s["exp_avg_sq"].reshape(-1) for s in loaded])
            else:
                flat_m, flat_v = th.zeros_like(flat_p), th.zeros_like(flat_p)
            flat_steps = th.full((len(params),), steps[0], dtype=th.float32, device=flat_p.device)
            offset = 0
            for i, p in enumerate(params):
                n = p.numel()
                p.data = flat_p[offset : offset + n].view_as(p)
                self.optimizer.state[p] = {
                    "step": flat_steps[i],
                    "exp_avg": flat_m[offset : offset + n].view_as(p),
                    "exp_avg_sq": flat_v[offset : offset + n].view_as(p),
                }
                offset += n
        self._params = params
        self._flat = (flat_p, th.empty_like(flat_p), flat_m, flat_v, flat_steps)
        return True

    def zero_grad(self) -> None:
        """Set every gradient to ``None`` (as ``optimizer.zero_grad()`` does)."""
        for p in self._params:
            p.grad = None

    def unbind(self) -> None:
        """Forget the flat layout: :meth:`bind` re-checks everything next time.

        Needed after the optimizer stepped the ordinary way, which may have skipped parameters
        without gradients (their step counts then differ).
        """
        self._flat = None

    def expose_clipped_grads(self) -> None:
        """Point every ``.grad`` at its slice of the last clipped flat gradient.

        After ``clip_grad_norm_`` and ``step``, sb3-contrib leaves the clipped gradients in
        ``.grad``; this leaves the same values there (call once, after the last step).
        """
        assert self._flat is not None, "call bind() first"
        flat_g, offset = self._flat[1], 0
        for p in self._params:
            p.grad = flat_g[offset : offset + p.numel()].view_as(p)
            offset += p.numel()

    @th.no_grad()
    def clip_and_step(self, max_norm: float) -> bool:
        """Clip the gradients to ``max_norm`` (total 2-norm) and take one Adam step.

        :return: False, without doing anything, if a parameter has no gradient (the caller then
            uses the optimizer the ordinary way: Adam skips such parameters).
        """
        assert self._flat is not None, "call bind() first"
        flat_p, flat_g, flat_m, flat_v, flat_steps = self._flat
        grads = [p.grad for p in self._params]
        if any(g is None for g in grads):
            return False
        # The norm exactly as clip_grad_norm_ takes it (per-tensor norms, then their norm): a
        # single norm over the flat gradient rounds differently (1e-6 relative for ~500k
        # elements), which moved the parameters measurably further from sb3-contrib's.
        present = [g for g in grads if g is not None]  # all of them (checked above)
        total_norm = th.linalg.vector_norm(th.stack(th._foreach_norm(present, 2.0)), 2.0)
        th.cat([g.reshape(-1) for g in present], out=flat_g)
        flat_g.mul_(th.clamp(max_norm / (total_norm + 1e-6), max=1.0))
        fused_adam_step(flat_p, flat_g, flat_m, flat_v, flat_steps, self.optimizer.param_groups[0])
        return True
