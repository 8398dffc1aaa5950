"""A method-call channel to the env copies behind SuperSuit's concatenated vector envs.

SuperSuit 3.11's worker loop (``ProcConcatVec``) forwards only ``reset``, ``step``, ``render``,
``close`` and ``env_is_wrapped(data)``; the in-process ``ConcatVecEnv`` forwards the same set.
:class:`CallableMarkovVectorEnv` (SuperSuit's ``MarkovVectorEnv`` plus this channel) treats a
:class:`CopyCall` passed as ``env_is_wrapped``'s argument as a request and returns its result
(one list entry per env copy, in copy order), so ``env_method``/``get_attr``/``set_attr`` and
per-copy seeding work the same with ``num_cpus`` 0 and >= 2. Errors are returned, not raised, so
a bad call never kills a worker process; the caller re-raises them.
"""

from __future__ import annotations

import traceback
import uuid
from dataclasses import dataclass, field
from typing import Any

from supersuit.vector import MarkovVectorEnv


@dataclass(frozen=True)
class CallError:
    """An exception raised inside an env copy (type name, message, traceback text)."""

    type_name: str
    message: str
    tb: str


@dataclass(frozen=True)
class CopyCall:
    """One request to every env copy.

    ``kind``: ``identify`` (return the copy's token), ``seed`` (``payload`` maps tokens to the
    seed of the copy's next reset), ``method`` / ``getattr`` / ``setattr`` on the ParallelEnv
    (``name``, ``args``, ``kwargs``); ``targets`` restricts it to some copy tokens (others return
    :data:`SKIPPED`).
    """

    kind: str
    name: str = ""
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    payload: dict[str, Any] = field(default_factory=dict)
    targets: frozenset[str] | None = None


SKIPPED = "__hlynr_skipped__"


class CallableMarkovVectorEnv(MarkovVectorEnv):
    """SuperSuit's ``MarkovVectorEnv`` (one ParallelEnv as a vector of agent rows) + the channel.

    It also takes the seed of its next reset from the channel, since SuperSuit derives per-copy
    seeds per worker process (copy c of process p gets ``seed + p + c_local``, not ``seed + c``).
    """

    def __init__(self, par_env: Any) -> None:
        super().__init__(par_env, black_death=False)
        self._token: str | None = None  # drawn on first request: copies are clones of one object
        self._next_seed: int | None = None

    def reset(self, seed: int | None = None, options: dict | None = None) -> Any:
        """Reset the ParallelEnv, with the channel-set seed if no explicit one is given."""
        if seed is None and self._next_seed is not None:
            seed = self._next_seed
        self._next_seed = None
        return super().reset(seed=seed, options=options)

    def env_is_wrapped(self, wrapper_class: Any) -> list[Any]:
        """Answer a :class:`CopyCall`; otherwise SuperSuit's behaviour (no gym wrappers)."""
        if isinstance(wrapper_class, CopyCall):
            return [self._answer(wrapper_class)]
        return [False] * self.num_envs

    def _answer(self, call: CopyCall) -> Any:
        try:
            if self._token is None:
                self._token = uuid.uuid4().hex
            if call.kind == "identify":
                return self._token
            if call.targets is not None and self._token not in call.targets:
                return SKIPPED
            if call.kind == "seed":
                seed = call.payload.get(self._token)
                self._next_seed = None if seed is None else int(seed)
                return self._next_seed
            if call.kind == "method":
                return getattr(self.par_env, call.name)(*call.args, **call.kwargs)
            if call.kind == "getattr":
                return getattr(self.par_env, call.name)
            if call.kind == "setattr":
                setattr(self.par_env, call.name, call.args[0])
                return None
            raise ValueError(f"unknown channel request kind '{call.kind}'")
        except Exception as exc:  # returned, re-raised by the caller: keeps workers alive
            return CallError(type(exc).__name__, str(exc), traceback.format_exc())
