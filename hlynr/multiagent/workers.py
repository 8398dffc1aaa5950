"""``ShardedEngine``: an :class:`~hlynr.multiagent.engine.AgentRowsEngine` whose env copies are
split over processes.

The copies are cut into ``workers`` contiguous shares: this process steps the first share and
``workers - 1`` worker processes step the others, each as one batch of its own engine, all at the
same time; results are concatenated in copy order. Every copy computes exactly what it computes
with one process (an engine's copies do not interact and draw their randomness from their own
keys), so the worker count changes speed, never trajectories (tested).

Requests and results travel pickled over one pipe per worker. Workers ignore SIGINT (the parent
closes them), exit when told to or when the parent's end of the pipe closes, and send their
exceptions back, re-raised in the parent with the worker's traceback as a note. Start method:
``forkserver`` (a training parent has torch thread pools that ``fork`` would copy).
"""

from __future__ import annotations

import multiprocessing as mp
import signal
import traceback
import weakref
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

import numpy as np
from gymnasium import spaces

from hlynr.multiagent.engine import AgentRowsEngine, RowsStep
from hlynr.registries import EntityLayout

EngineFactory = Callable[[int], AgentRowsEngine]
"""``factory(n_copies) -> engine``; must be picklable (e.g. a ``functools.partial`` of a class)."""


def share_bounds(n: int, workers: int) -> list[tuple[int, int]]:
    """Contiguous ``[lo, hi)`` copy ranges of ``workers`` near-equal shares of ``n`` copies
    (env copies of an engine, or envs of the batched Intercept VecEnv)."""
    cuts = [n * k // workers for k in range(workers + 1)]
    return [(cuts[k], cuts[k + 1]) for k in range(workers)]


def _serve(conn: Connection, factory: EngineFactory, n: int) -> None:
    """Worker process: build an engine of ``n`` copies and run the parent's requests on it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        engine = factory(n)
        conn.send(("ok", None))
    except BaseException as exc:  # reported to the parent
        conn.send(("err", (repr(exc), traceback.format_exc())))
        return
    while True:
        try:
            name, args = conn.recv()
        except (EOFError, OSError):
            return
        if name == "close":
            conn.send(("ok", None))
            return
        try:
            conn.send(("ok", getattr(engine, name)(*args)))
        except BaseException as exc:  # reported to the parent
            try:
                conn.send(("err", (exc, traceback.format_exc())))
            except Exception:  # an unpicklable exception: send its text
                conn.send(("err", (RuntimeError(f"{type(exc).__name__}: {exc}"), traceback.format_exc())))


def _shutdown(procs: list[BaseProcess], conns: list[Connection]) -> None:
    for c in conns:
        try:
            c.send(("close", ()))
        except (OSError, ValueError):
            pass
    join_or_kill(procs)
    for c in conns:
        c.close()


def join_or_kill(procs: Sequence[BaseProcess], timeout: float = 2.0) -> None:
    """Wait for worker processes to exit; terminate, then kill, any that do not in ``timeout`` s."""
    for p in procs:
        p.join(timeout=timeout)
        if p.is_alive():
            p.terminate()
            p.join(timeout=timeout)
        if p.is_alive():
            p.kill()
            p.join()


class ShardedEngine:
    """``n_copies`` copies of ``factory``'s engine over ``workers`` processes (see the module docstring)."""

    # The first share's, the same in every share.
    rows_per_copy: int
    observation_space: spaces.Box
    action_space: spaces.Box
    critic_observation_space: spaces.Box | None
    entity_layout: EntityLayout | None
    end_keys: tuple[str, ...]

    def __init__(self, factory: EngineFactory, n_copies: int, workers: int,
                 start_method: str = "forkserver") -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.bounds = share_bounds(n_copies, min(workers, n_copies))
        self.n_copies = n_copies
        self._local = local = factory(self.bounds[0][1])
        self.rows_per_copy, self.end_keys = local.rows_per_copy, local.end_keys
        self.observation_space, self.action_space = local.observation_space, local.action_space
        self.critic_observation_space = local.critic_observation_space
        self.entity_layout = local.entity_layout
        ctx = mp.get_context(start_method)
        self._procs: list[BaseProcess] = []
        self._conns: list[Connection] = []
        self._finalizer = weakref.finalize(self, _shutdown, self._procs, self._conns)
        for lo, hi in self.bounds[1:]:
            parent, child = ctx.Pipe()
            # typeshed types get_context(str) as a BaseContext, which lacks Process.
            p = ctx.Process(target=_serve, args=(child, factory, hi - lo),  # type: ignore[attr-defined]
                            daemon=True, name=f"hlynr-rows-worker-{lo}-{hi}")
            p.start()
            child.close()
            self._procs.append(p)
            self._conns.append(parent)
        self._collect(list(range(len(self._conns))), "start")

    # ------------------------------------------------------------------ plumbing
    def _collect(self, workers: list[int], what: str) -> list[Any]:
        out: list[Any] = []
        error: BaseException | None = None
        for k in workers:
            try:
                status, value = self._conns[k].recv()
            except (EOFError, OSError):
                error = error or RuntimeError(f"rows worker {k + 1} (pid {self._procs[k].pid}) exited during {what}")
                out.append(None)
                continue
            if status == "err":
                exc, tb = value
                exc = exc if isinstance(exc, BaseException) else RuntimeError(exc)
                exc.add_note(f"raised in rows worker {k + 1} during {what}; worker traceback:\n{tb}")
                error = error or exc
                out.append(None)
            else:
                out.append(value)
        if error is not None:
            raise error
        return out

    def _split(self, idx: np.ndarray) -> list[np.ndarray]:
        return [idx[(idx >= lo) & (idx < hi)] - lo for lo, hi in self.bounds]

    def _call(self, name: str, per_share: list[tuple[Any, ...] | None]) -> list[Any]:
        """``engine.<name>(*args)`` in every share whose args are not ``None``, concurrently."""
        remote = [k for k, a in enumerate(per_share[1:]) if a is not None]
        for k in remote:
            self._conns[k].send((name, per_share[k + 1]))
        try:
            local = getattr(self._local, name)(*per_share[0]) if per_share[0] is not None else None
        finally:
            got = dict(zip(remote, self._collect(remote, name)))
        return [local] + [got.get(k) for k in range(len(self.bounds) - 1)]

    def _by_index(self, name: str, idx: np.ndarray, *extra: Any) -> list[Any]:
        idx = np.asarray(idx, dtype=int)
        parts = self._split(idx)
        args = [None if p.size == 0 else (p, *extra) for p in parts]
        return self._call(name, args)

    def _gather(self, idx: np.ndarray, parts: list[Any]) -> np.ndarray:
        """Share results (arrays over each share's selected copies) back in ``idx`` order."""
        idx = np.asarray(idx, dtype=int)
        pieces = [p for p in parts if p is not None]
        joined = np.concatenate(pieces) if pieces else np.zeros((0,))
        order = np.argsort(idx, kind="stable")  # shares hold their copies in ascending order
        out = np.empty_like(joined)
        out[order] = joined
        return out

    # ------------------------------------------------------------------ engine protocol
    def seed(self, idx: np.ndarray, seeds: Sequence[int]) -> None:
        """Seed copies ``idx`` (in whichever share holds them)."""
        idx = np.asarray(idx, dtype=int)
        order = np.argsort(idx, kind="stable")
        idx, seed_array = idx[order], np.asarray(list(seeds), dtype=object)[order]
        args: list[tuple[Any, ...] | None] = []
        for lo, hi in self.bounds:
            sel = (idx >= lo) & (idx < hi)
            args.append((idx[sel] - lo, [int(s) for s in seed_array[sel]]) if sel.any() else None)
        self._call("seed", args)

    def reset(self, idx: np.ndarray) -> np.ndarray:
        """Reset copies ``idx``; their observations in ``idx`` order."""
        idx = np.asarray(idx, dtype=int)
        order = np.argsort(idx, kind="stable")
        parts = self._by_index("reset", idx[order])
        return self._gather(idx, parts)

    def step(self, actions: np.ndarray) -> RowsStep:
        """Step every share with its copies' actions, concurrently; results in copy order."""
        res = self._call("step", [(actions[lo:hi],) for lo, hi in self.bounds])
        return RowsStep(*(np.concatenate([getattr(r, f) for r in res]) for f in
                          ("obs", "reward", "terminated", "truncated", "team_reward", "stats", "active")))

    def critic_observations(self, idx: np.ndarray | None = None) -> np.ndarray:
        """Critic rows of copies ``idx`` (default all)."""
        idx = np.arange(self.n_copies) if idx is None else np.asarray(idx, dtype=int)
        order = np.argsort(idx, kind="stable")
        return self._gather(idx, self._by_index("critic_observations", idx[order]))

    def check_params(self, idx: np.ndarray, params: dict[str, Any]) -> None:
        """Validate ``params`` for copies ``idx`` in their shares."""
        self._by_index("check_params", np.sort(np.asarray(idx, dtype=int)), params)

    def apply_params(self, idx: np.ndarray, params: dict[str, Any]) -> None:
        """Give copies ``idx`` ``params`` from their next reset."""
        self._by_index("apply_params", np.sort(np.asarray(idx, dtype=int)), params)

    def models(self, idx: np.ndarray) -> list[Any]:
        """Parameter models of copies ``idx``, in ``idx`` order."""
        idx = np.asarray(idx, dtype=int)
        order = np.argsort(idx, kind="stable")
        parts = self._by_index("models", idx[order])
        flat = [m for p in parts if p is not None for m in p]
        out: list[Any] = [None] * len(idx)
        for j, i in enumerate(order):
            out[i] = flat[j]
        return out

    def local_engine(self) -> AgentRowsEngine:
        """The engine of the first share, stepped in this process (copies ``0 .. bounds[0][1] - 1``)."""
        return self._local

    def close(self) -> None:
        """Stop the worker processes (idempotent)."""
        self._finalizer()


def sharded_or_single(factory: EngineFactory, n_copies: int, workers: int) -> AgentRowsEngine:
    """``factory(n_copies)`` in this process, or split over ``workers > 1`` processes."""
    if n_copies < 1:
        raise ValueError(f"n_envs must be >= 1, got {n_copies}")
    if workers > 1:
        return ShardedEngine(factory, n_copies, workers)
    return factory(n_copies)

