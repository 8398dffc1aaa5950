"""Environments, wrappers and their registries; importing this registers the built-in envs."""

from hlynr.envs import swarm as _swarm  # noqa: F401  (registers hlynr/Swarm-v0 and its stages)
