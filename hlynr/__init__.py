"""hlynr: config-driven Stable-Baselines3 experiments for guidance and interception RL.

Importing ``hlynr`` registers its environments (``hlynr/Intercept-v0``, ``hlynr/Swarm-v0``),
wrappers (e.g. ``residual_guidance``) and guidance baselines, so configs and ``gymnasium.make`` can name them.
"""

__version__ = "0.1.0"

from hlynr import envs as _envs  # noqa: E402,F401  (registration side effects)
from hlynr import guidance as _guidance  # noqa: E402,F401  (baselines, residual_guidance wrapper)
