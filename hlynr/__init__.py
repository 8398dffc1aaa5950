"""hlynr: config-driven Stable-Baselines3 experiments for guidance and interception RL.

Importing ``hlynr`` registers every built-in component (:mod:`hlynr.builtins`), so configs and
``gymnasium.make`` can name them. Registration is lazy: ``import hlynr`` loads the registries,
Gymnasium and :mod:`hlynr.builtins` only; a component's module (and torch, SB3 or an env engine
with it) is imported when the component is first looked up.
"""

__version__ = "0.1.0"

from hlynr import builtins as _builtins  # noqa: E402,F401  (registers the built-in components)
