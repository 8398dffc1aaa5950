"""Environments, the env builder and the built-in wrappers.

* ``hlynr/Intercept-v0``: radar-guided interception (Gymnasium, batched vectoriser, the
  sensor in ``env.kwargs.sensor``); see ``hlynr.envs.intercept``.
* ``hlynr/Swarm-v0``: multi-agent swarm interception (PettingZoo, parameter sharing); see
  ``hlynr.envs.swarm``.
* ``hlynr/ATC-v0``: multi-aircraft conflict avoidance with the MVP resolver (PettingZoo, batched
  vectoriser); see
  ``hlynr.envs.atc``.
* :mod:`hlynr.envs.factory`: builds the VecEnv a config describes.
"""
