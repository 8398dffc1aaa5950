"""Counter-based random numbers: a pure function of (episode key, stream, counter).

Each environment copy draws its randomness as ``hash(key, stream, counter)`` instead of from a
stateful generator, so N environments stepped as arrays produce exactly the numbers N separate
single environments produce, with no per-env Python loop. The hash is SplitMix64's finaliser.
"""

from __future__ import annotations

import numpy as np

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)

STREAM_SCENARIO = 1
STREAM_TARGET = 2
STREAM_RADAR = 3
STREAM_CUE = 4


def mix64(z: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser on a uint64 array (wrapping arithmetic; ``z`` is not modified)."""
    return _mix64_inplace(np.array(z, dtype=np.uint64))


def _mix64_inplace(z: np.ndarray) -> np.ndarray:
    """:func:`mix64` computed in place on ``z`` (a uint64 array the caller owns)."""
    tmp = np.right_shift(z, _S30)
    z ^= tmp
    z *= _M1
    z ^= np.right_shift(z, _S27, out=tmp)
    z *= _M2
    z ^= np.right_shift(z, _S31, out=tmp)
    return z


_OFFSETS: dict[int, np.ndarray] = {}
"""``n -> (n, 1)`` per-draw offsets ``j * M2`` (j = 1..n) of :func:`uniforms`."""


def seed_key(seeds: np.ndarray | list[int] | int) -> np.ndarray:
    """Base keys (N,) of environments reset with integer ``seeds`` (any ints, taken mod 2^64)."""
    s = np.array([int(x) % (1 << 64) for x in np.atleast_1d(np.asarray(seeds, dtype=object))],
                 dtype=np.uint64)
    return mix64(s * _GOLDEN + np.uint64(0x632BE59BD9B4E019))


def episode_key(base_key: np.ndarray, episode: np.ndarray) -> np.ndarray:
    """The key of episode number ``episode`` (0, 1, ...) after a reset with ``base_key``."""
    return mix64(base_key ^ mix64(episode.astype(np.uint64) * _GOLDEN + np.uint64(1)))


def uniforms(key: np.ndarray, stream: int, counter: np.ndarray, n: int) -> np.ndarray:
    """``(n, N)`` uniforms in (0, 1) for keys ``key`` (N,) at integer ``counter`` (N,)."""
    z = counter.astype(np.uint64)
    z *= _GOLDEN
    z += np.uint64(stream << 40)
    z ^= key
    base = _mix64_inplace(z)
    j = _OFFSETS.get(n)
    if j is None:
        j = _OFFSETS[n] = (np.arange(1, n + 1, dtype=np.uint64) * _M2)[:, None]
    x = _mix64_inplace(base[None, :] + j)
    x >>= _S11
    u = x.astype(np.float64)
    u += 0.5
    u *= 1.0 / 9007199254740992.0
    return u


def normals(key: np.ndarray, stream: int, counter: np.ndarray, n: int, offset: int = 0) -> np.ndarray:
    """``(n, N)`` standard normals (Box-Muller on pairs of uniforms, both outputs used).

    ``offset`` shifts the uniform indices so that draws for different purposes on the same
    (stream, counter) do not overlap.
    """
    m = (n + 1) // 2
    u = uniforms(key, stream, counter, offset + 2 * m)[offset:]
    rad = np.sqrt(-2.0 * np.log(u[:m]))
    ang = (2.0 * np.pi * u[m:]).astype(np.float32)  # float32 trig: 20x faster, ~1e-7 relative
    return np.concatenate([rad * np.cos(ang).astype(np.float64), rad * np.sin(ang).astype(np.float64)])[:n]
