"""Worker processes for the batched Intercept VecEnv (``workers > 1``).

Each worker owns one contiguous share of the envs as a :class:`~hlynr.envs.intercept.shard.Shard`
whose :class:`~hlynr.envs.intercept.shard.StepBuffers` are rows of one shared-memory block
(``multiprocessing.RawArray``) that the parent allocated. A step costs one byte each way on a
pipe per worker: the parent writes the actions into shared memory and sends ``b"s"``; the
worker steps its share as one batch, writes observations, rewards, dones and (for finished
envs) final observations and statistics into shared memory and answers ``b"k"``. Control
requests (reset, seeding, curriculum, parameter queries) are pickled.

Lifetime: workers ignore SIGINT (Ctrl-C reaches the parent, which closes them), exit when told
to, and exit on their own when the parent's end of the pipe closes, including when the parent
dies without cleaning up. An exception in a worker is sent back and re-raised in the parent,
with the worker's traceback attached as a note.

Start method: ``forkserver`` (default). The parent is typically a training process with torch
(OpenMP/MKL thread pools), logging and possibly tensorboard threads; ``fork`` would copy such a
multi-threaded process, which can deadlock a child on a lock another thread held at fork time.
The fork server is a clean single-threaded process; this module asks it to preload the engine
so that starting a worker is a cheap fork, not a fresh interpreter (``spawn``, also supported).
"""

from __future__ import annotations

import ctypes
import multiprocessing as mp
import pickle
import signal
import traceback
import weakref
from multiprocessing.connection import Connection
from typing import Any

from hlynr.envs.intercept.core import InterceptCore
from hlynr.envs.intercept.shard import CONTROL_METHODS, Shard, StepBuffers
from hlynr.multiagent.workers import join_or_kill

_STEP, _OK, _ERR, _CLOSE = b"s", b"k", b"e", b"c"
START_METHODS: tuple[str, ...] = ("forkserver", "spawn", "fork")


def _worker_main(conn: Connection, block: Any, n_total: int, lo: int, hi: int, params: Any) -> None:
    """Worker process: build the share's engine over rows ``lo:hi`` of the shared buffers and serve."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and closes us
    try:
        shard = Shard(InterceptCore(hi - lo, params), StepBuffers.view(block, n_total).rows(lo, hi))
    except BaseException as exc:  # reported to the parent
        conn.send_bytes(_ERR + _pickled_error(exc))
        return
    conn.send_bytes(_OK)
    while True:
        try:
            msg = conn.recv_bytes()
        except (EOFError, OSError):  # the parent is gone
            return
        if msg == _CLOSE:
            conn.send_bytes(_OK)
            return
        try:
            if msg == _STEP:
                shard.step()  # publishes its observations in the shared buffers
                conn.send_bytes(_OK)
            else:
                name, args = pickle.loads(msg)
                if name not in CONTROL_METHODS:
                    raise AttributeError(f"unknown worker request '{name}'")
                conn.send_bytes(_OK + pickle.dumps(getattr(shard, name)(*args)))
        except (EOFError, OSError, BrokenPipeError):
            return
        except BaseException as exc:  # reported to the parent
            try:
                conn.send_bytes(_ERR + _pickled_error(exc))
            except (EOFError, OSError):
                return


def _pickled_error(exc: BaseException) -> bytes:
    tb = "".join(traceback.format_exception(exc))
    try:
        return pickle.dumps((exc, tb))
    except Exception:  # an unpicklable exception: send its text
        return pickle.dumps((RuntimeError(f"{type(exc).__name__}: {exc}"), tb))


def _shutdown(procs: list[Any], conns: list[Connection]) -> None:
    """Ask the workers to exit, wait briefly, then terminate any that did not; close the pipes."""
    for c in conns:
        try:
            c.send_bytes(_CLOSE)
        except (OSError, ValueError):
            pass
    join_or_kill(procs)
    for c in conns:
        c.close()


class WorkerPool:
    """Worker processes stepping the env shares ``bounds`` (``[lo, hi)`` each) of the rows of ``block``."""

    def __init__(self, ctx: Any, block: Any, n_total: int, bounds: list[tuple[int, int]], params: Any) -> None:
        self.bounds = bounds
        self.procs: list[Any] = []
        self.conns: list[Connection] = []
        self._broken: str | None = None
        self._outstanding: set[int] = set()
        """Workers whose answer to the last request has not been read (e.g. after Ctrl-C)."""
        self._finalizer = weakref.finalize(self, _shutdown, self.procs, self.conns)
        for lo, hi in bounds:
            parent_end, child_end = ctx.Pipe(duplex=True)
            p = ctx.Process(target=_worker_main, args=(child_end, block, n_total, lo, hi, params),
                            daemon=True, name=f"hlynr-intercept-worker-{lo}-{hi}")
            p.start()
            child_end.close()  # so that the worker's death reads as EOF here
            self.procs.append(p)
            self.conns.append(parent_end)
        self._outstanding = set(range(len(bounds)))
        self._collect(None, "start")

    def _label(self, k: int) -> str:
        lo, hi = self.bounds[k]
        return f"intercept env worker {k + 1} (envs {lo}-{hi - 1}, pid {self.procs[k].pid})"

    def _collect(self, only: list[int] | None, what: str) -> list[Any]:
        """Read one answer from each worker (``only``: those indices); raise the first error after
        reading all answers, so that the pipes stay in step."""
        results: list[Any] = []
        error: BaseException | None = None
        for k in (range(len(self.conns)) if only is None else only):
            try:
                msg = self.conns[k].recv_bytes()
                self._outstanding.discard(k)
            except (EOFError, OSError) as exc:
                self.procs[k].join(timeout=1.0)
                self._broken = (f"{self._label(k)} exited unexpectedly during {what} "
                                f"(exit code {self.procs[k].exitcode})")
                broken = RuntimeError(self._broken)
                broken.__cause__ = exc
                error = error or broken
                results.append(None)
                continue
            if msg[:1] == _OK:
                results.append(pickle.loads(msg[1:]) if len(msg) > 1 else None)
            else:
                raised, tb = pickle.loads(msg[1:])
                raised.add_note(f"raised in {self._label(k)} during {what}; worker traceback:\n{tb}")
                error = error or raised
                results.append(None)
        if error is not None:
            raise error
        return results

    def _check(self) -> None:
        """Raise if the pool cannot take a request; first read answers left unread by an
        interrupted request (e.g. Ctrl-C in the parent while the workers stepped)."""
        if self._broken:
            raise RuntimeError(f"the batched env's worker processes are unusable: {self._broken}")
        if not self._finalizer.alive:
            raise RuntimeError("the batched env is closed")
        if self._outstanding:
            try:
                self._collect(sorted(self._outstanding), "an interrupted request")
            except Exception:  # the interrupted request's own error is moot; a dead worker is not
                if self._broken:
                    raise

    def step_async(self) -> None:
        """Tell every worker to step (the actions are already in shared memory)."""
        self._check()
        self._outstanding = set(range(len(self.conns)))
        for c in self.conns:
            c.send_bytes(_STEP)

    def step_wait(self) -> None:
        """Wait until every worker has written its step results."""
        self._collect(None, "step")

    def send(self, name: str, args_per_worker: dict[int, tuple[Any, ...]]) -> None:
        """Ask each worker ``k`` of ``args_per_worker`` to run ``Shard.<name>(*args)``; answers
        are read with :meth:`collect`."""
        self._check()
        self._outstanding = set(args_per_worker)
        for k, args in args_per_worker.items():
            self.conns[k].send_bytes(pickle.dumps((name, args)))

    def collect(self, workers: list[int], what: str) -> list[Any]:
        """The results of a :meth:`send` from ``workers``, in that order (raises a worker's error)."""
        return self._collect(workers, what)

    def close(self) -> None:
        """Stop the workers (idempotent)."""
        self._finalizer()


def shared_block(ctx: Any, nbytes: int) -> Any:
    """A zeroed shared-memory block of ``nbytes`` bytes that workers started from ``ctx`` can map."""
    return ctx.RawArray(ctypes.c_uint8, nbytes)


def context(start_method: str) -> Any:
    """The multiprocessing context for the workers (preloading the engine in the fork server)."""
    if start_method not in START_METHODS:
        raise ValueError(f"unknown start_method '{start_method}'; known: {', '.join(START_METHODS)}")
    ctx = mp.get_context(start_method)
    if start_method == "forkserver":
        ctx.set_forkserver_preload(["hlynr.envs.intercept.workers"])
    return ctx
