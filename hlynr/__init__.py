"""hlynr: config-driven Stable-Baselines3 experiments for guidance and interception RL."""

__version__ = "0.1.0"
