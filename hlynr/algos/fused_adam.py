"""One Adam step on a flat parameter tensor through torch's fused kernel (``torch._fused_adam_``).

hlynr's RecurrentPPO and off-policy algorithms keep each network's parameters, gradients and Adam
moments as single flat tensors, so a whole optimizer step is one kernel call. The settings come
from the optimizer's (single) parameter group, as ``torch.optim.Adam`` would use them.
"""

from __future__ import annotations

from typing import Any

import torch as th


def fused_adam_step(param: th.Tensor, grad: th.Tensor, exp_avg: th.Tensor, exp_avg_sq: th.Tensor,
                    steps: th.Tensor, group: dict[str, Any]) -> None:
    """Advance ``steps`` by one and apply Adam to ``param`` in place (moments updated in place)."""
    beta1, beta2 = group["betas"]
    steps.add_(1)
    th._fused_adam_(
        [param],
        [grad],
        [exp_avg],
        [exp_avg_sq],
        [],
        [steps[0]],
        amsgrad=False,
        lr=group["lr"],
        beta1=beta1,
        beta2=beta2,
        weight_decay=group["weight_decay"],
        eps=group["eps"],
        maximize=group["maximize"],
    )
