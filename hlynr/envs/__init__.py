"""Environments, wrappers and their registries; importing this registers hlynr's envs.

* ``hlynr/Intercept-v0``: radar-guided interception (Gymnasium, batched vectoriser,
  ``radar_kalman`` wrapper); see ``hlynr.envs.intercept``.
* ``hlynr/Swarm-v0``: multi-agent swarm interception (PettingZoo, parameter sharing); see
  ``hlynr.envs.swarm``.
* ``hlynr/ATC-v0``: multi-agent air-traffic conflict avoidance (PettingZoo, parameter sharing;
  ``mvp`` and ``direct`` baselines); see ``hlynr.envs.atc``.
"""

from hlynr.envs import intercept as _intercept  # noqa: F401
from hlynr.envs import swarm as _swarm  # noqa: F401
from hlynr.envs import atc as _atc  # noqa: F401
