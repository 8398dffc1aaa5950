"""Environments, wrappers and their registries; importing this registers hlynr's envs.

* ``hlynr/Intercept-v0``: radar-guided interception (Gymnasium, batched vectoriser, the
  sensor in ``env.kwargs.sensor``); see ``hlynr.envs.intercept``.
* ``hlynr/Swarm-v0``: multi-agent swarm interception (PettingZoo, parameter sharing); see
  ``hlynr.envs.swarm``.
"""

from hlynr.envs import intercept as _intercept  # noqa: F401
from hlynr.envs import swarm as _swarm  # noqa: F401
