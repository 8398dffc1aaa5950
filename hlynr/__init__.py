"""hlynr: config-driven Stable-Baselines3 experiments for guidance and interception RL.

Importing ``hlynr`` registers every built-in component (:mod:`hlynr.builtins`), so configs and
``gymnasium.make`` can name them.
"""

__version__ = "0.1.0"

from hlynr import builtins as _builtins  # noqa: E402,F401  (registers the built-in components)
