"""Module parameters kept in one flat tensor per network, laid out so that layers can be stacked.

The fast updates (off-policy, PPO) need, for instance, the first-layer weights of both critics
(or of PPO's actor and critic) as one ``(2, out, in)`` tensor, and their gradient in the same
layout. :class:`FlatParams` lays the parameters of SB3's modules out in one flat tensor, group
after group (e.g. ``qf0.0.weight, qf1.0.weight`` and then ``qf0.0.bias, qf1.0.bias``), and points
every ``Parameter``'s ``.data`` at its slice. The modules, their ``state_dict`` keys and shapes
and the optimizers stay SB3's; only the storage moved. Each group is then one contiguous view
(:attr:`FlatParams.views`), which the update uses as stacked weights, with a view of the same
shape into a flat gradient tensor (:attr:`FlatParams.grad_views`), which the backward pass fills.

:class:`FlatAdam` steps a ``torch.optim.Adam`` over such a flat tensor with one
``torch._fused_adam_`` call: its ``exp_avg``/``exp_avg_sq`` and ``step`` states become views
into flat tensors in the same layout, so ``state_dict`` and loading are unchanged. Adam is
elementwise, so this is the per-parameter update (fused kernel; SB3's default single-tensor
Adam rounds a few operations differently, about 1e-7 relative).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch as th

from hlynr.algos.fused_adam import fused_adam_step


class FlatParams:
    """Parameters stored group by group in one flat tensor; each group is one contiguous view.

    :param groups: ``(tensors, shape)`` pairs: the tensors of a group are laid next to one another
        and viewed together as ``shape`` (e.g. the weights of one layer of every critic as
        ``(n_critics, out, in)``).
    """

    def __init__(self, groups: Sequence[tuple[Sequence[th.Tensor], tuple[int, ...]]]) -> None:
        self.groups = [(list(tensors), tuple(shape)) for tensors, shape in groups]
        self.params = [p for tensors, _ in self.groups for p in tensors]
        self.flat = th.empty(0)
        self.views: list[th.Tensor] = []
        """One contiguous view per group (current values, updated in place)."""
        self.grad = th.empty(0)
        """A gradient of :attr:`flat`, which the update writes group by group into :attr:`grad_views`."""
        self.grad_views: list[th.Tensor] = []
        self._ptrs: list[int] = []
        self.offsets: list[int] = []
        """Each parameter's offset in :attr:`flat`, in :attr:`params` order."""
        self.bind()

    def bind(self) -> None:
        """Copy the current values into a new flat tensor and point each parameter at its slice."""
        with th.no_grad():
            flat = th.cat([p.detach().reshape(-1) for p in self.params])
        grad = th.zeros_like(flat)
        views, grad_views, offset = [], [], 0
        self.offsets = []
        for tensors, shape in self.groups:
            size = sum(p.numel() for p in tensors)
            views.append(flat[offset : offset + size].view(shape))
            grad_views.append(grad[offset : offset + size].view(shape))
            for p in tensors:
                self.offsets.append(offset)
                p.data = flat[offset : offset + p.numel()].view_as(p)
                offset += p.numel()
        self.flat, self.views, self.grad, self.grad_views = flat, views, grad, grad_views
        self._ptrs = [p.data_ptr() for p in self.params]

    def is_bound(self) -> bool:
        """Whether every parameter still lives in :attr:`flat` (not after ``.to()`` or ``.data = ...``)."""
        return all(p.data_ptr() == ptr for p, ptr in zip(self.params, self._ptrs))


@th.no_grad()
def polyak(target: FlatParams, source: FlatParams, tau: float) -> None:
    """SB3's ``polyak_update`` (``mul_(1 - tau)``, then ``add`` with ``alpha=tau``) on whole flat tensors.

    The same two elementwise operations per element as SB3's loop over parameters, so the same
    values bit for bit; ``target`` and ``source`` must share one layout.
    """
    target.flat.mul_(1 - tau)
    th.add(target.flat, source.flat, alpha=tau, out=target.flat)


class FlatAdam:
    """Steps ``optimizer`` (a plain ``torch.optim.Adam`` over the parameters of ``params``) on the flat tensor.

    :meth:`step` takes the flat gradient. Where the fused flat step does not apply (another
    optimizer class, several parameter groups, ``amsgrad``, step hooks such as a fine-tuning
    regulariser's, parameters that skipped steps), it sets each parameter's ``.grad`` to its slice
    of the flat gradient and calls ``optimizer.step()``, so the optimizer and its hooks run as
    usual.
    """

    def __init__(self, optimizer: th.optim.Optimizer, params: FlatParams) -> None:
        self.optimizer, self.params = optimizer, params
        self._state: tuple[th.Tensor, th.Tensor, th.Tensor] | None = None  # exp_avg, exp_avg_sq, steps
        self._state_ptrs: list[int] = []
        self._fused = False
        self._checked = False
        groups = optimizer.param_groups
        ours = params.params
        self._group_params = groups[0]["params"] if len(groups) == 1 else None
        """The group's parameter list, when it holds exactly these float32 parameters on one device."""
        if self._group_params is not None:
            theirs = self._group_params
            same = len(theirs) == len(ours) and {id(p) for p in theirs} == {id(p) for p in ours}
            if not same or any(p.dtype != th.float32 or p.device != ours[0].device for p in ours):
                self._group_params = None

    def _fusable(self) -> bool:
        """A plain Adam over exactly these float32 parameters, with no hooks."""
        opt = self.optimizer
        if type(opt) is not th.optim.Adam or len(opt.param_groups) != 1 or not hasattr(th, "_fused_adam_"):
            return False
        if getattr(opt, "_optimizer_step_pre_hooks", None) or getattr(opt, "_optimizer_step_post_hooks", None):
            return False
        group = opt.param_groups[0]
        params: list[th.Tensor] = group["params"]
        if params is not self._group_params or len(params) != len(self.params.params):
            return False
        if group["amsgrad"] or group["differentiable"] or group["capturable"]:
            return False
        if group.get("decoupled_weight_decay", False) or isinstance(group["lr"], th.Tensor):
            return False
        return not (isinstance(group["betas"][0], th.Tensor) or isinstance(group["betas"][1], th.Tensor))

    def _state_is_bound(self) -> bool:
        if self._state is None:
            return False
        state = self.optimizer.state
        for p, ptr in zip(self.params.params, self._state_ptrs):
            kept = state.get(p)
            if not kept or kept["exp_avg"].data_ptr() != ptr:
                return False
        return True

    def _bind_state(self) -> bool:
        """Make Adam's state views into flat tensors (keeping loaded values); False if impossible."""
        ours = self.params.params
        states = [self.optimizer.state.get(p) for p in ours]
        if any(states) and not all(states):
            return False
        steps = {float(s["step"]) for s in states if s} or {0.0}
        if len(steps) != 1:
            return False
        flat = self.params.flat
        with th.no_grad():
            if all(states):
                exp_avg = th.cat([s["exp_avg"].reshape(-1) for s in states if s])
                exp_avg_sq = th.cat([s["exp_avg_sq"].reshape(-1) for s in states if s])
            else:
                exp_avg, exp_avg_sq = th.zeros_like(flat), th.zeros_like(flat)
            step_values = th.full((len(ours),), steps.pop(), dtype=th.float32, device=flat.device)
        for i, (p, offset) in enumerate(zip(ours, self.params.offsets)):
            n = p.numel()
            self.optimizer.state[p] = {
                "step": step_values[i],
                "exp_avg": exp_avg[offset : offset + n].view_as(p),
                "exp_avg_sq": exp_avg_sq[offset : offset + n].view_as(p),
            }
        self._state = (exp_avg, exp_avg_sq, step_values)
        self._state_ptrs = [self.optimizer.state[p]["exp_avg"].data_ptr() for p in ours]
        return True

    def prepare(self) -> None:
        """Before the steps of one ``train()`` call: decide whether :meth:`step` is one fused kernel
        call. Adam's state is bound to flat tensors at the first step (an optimizer that takes no
        step, like TD3's actor between delayed updates, keeps its state as it is)."""
        self._fused = self._fusable()
        self._checked = False
        if not self._fused:
            self._state = None

    @th.no_grad()
    def step(self, flat_grad: th.Tensor) -> None:
        """One Adam step with ``flat_grad``, the gradient of the flat parameter tensor (after :meth:`prepare`)."""
        if self._fused and not self._checked:
            self._fused = self._state_is_bound() or self._bind_state()
            self._checked = True
        if not self._fused:
            self._ordinary_step(flat_grad)
            return
        assert self._state is not None
        exp_avg, exp_avg_sq, steps = self._state
        fused_adam_step(self.params.flat, flat_grad, exp_avg, exp_avg_sq, steps,
                        self.optimizer.param_groups[0])

    def _ordinary_step(self, flat_grad: th.Tensor) -> None:
        for p, offset in zip(self.params.params, self.params.offsets):
            p.grad = flat_grad[offset : offset + p.numel()].view_as(p)
        self.optimizer.step()
