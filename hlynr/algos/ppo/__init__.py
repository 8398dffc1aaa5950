"""hlynr's PPO: a faster drop-in for Stable-Baselines3's PPO with the same results."""

from hlynr.algos.ppo.ppo import PPO

__all__ = ["PPO"]
