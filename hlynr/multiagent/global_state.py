"""Whether a configured env publishes a global state for a centralised critic (checked at validation)."""

from __future__ import annotations

from typing import Any

from hlynr.envs.registries import BATCHED_ENVS


def global_state_problem(env: Any) -> str | None:
    """Why the env config ``env`` offers no global state for a centralised critic, or ``None``.

    A global state comes from a batched multi-agent engine (``type: pettingzoo``, ``vectoriser:
    batched``) whose VecEnv has a ``critic_observation_space``; one copy is built to ask.
    """
    where = f"env '{env.id}'"
    if getattr(env, "type", None) != "pettingzoo":
        return f"{where} is a single-agent Gymnasium env and publishes no global state"
    if getattr(env, "vectoriser", None) != "batched":
        return (f"{where} with vectoriser '{env.vectoriser}' publishes no global state; use "
                "vectoriser: batched")
    venv = BATCHED_ENVS.get(env.id)(n_envs=1, seed=0, **env.kwargs)
    try:
        if getattr(venv, "critic_observation_space", None) is None:
            return f"the batched engine of {where} publishes no global state"
    finally:
        venv.close()
    return None
