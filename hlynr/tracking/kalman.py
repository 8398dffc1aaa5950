"""Batched per-axis Kalman filters in closed form: constant velocity (CV) and constant acceleration (CA).

Each Cartesian axis is an independent linear filter with the same model, the same process noise
and the same measurement variance, so the covariance is identical for the three axes and stored
once per environment. Process noise is the discrete white-noise model (filterpy's
``Q_discrete_white_noise``):

* CV ``[p, v]``: ``Q = var * [[T^4/4, T^3/2], [T^3/2, T^2]]`` (``var``: acceleration variance);
* CA ``[p, v, a]``: ``Q = var * g g^T`` with ``g = [T^2/2, T, 1]`` (``var``: variance of the
  acceleration change over one step).

Both filters predict every step and update only where a detection arrived (``mask``); the update
is the standard ``K = P H^T / S`` form (equal to filterpy's Joseph form in exact arithmetic).

Storage: a track is one ``(rows, N)`` matrix ``X`` (one column per env): the state vectors
``p, v[, a]`` (3 rows each) followed by the covariance entries (CV ``pp, pv, vv``; CA ``pp, pv,
pa, vv, va, aa``). ``x`` (the state as ``(2 or 3, 3, N)``), ``cov`` and the named fields are views
of it, so a reset is one scatter of a column block and the filter updates several quantities per
NumPy call; every function updates the views in place.
"""

from __future__ import annotations

import numpy as np


def _cov_rows(names: tuple[str, ...]) -> list[property]:
    """Read-only properties for the covariance entries ``names``, in order (row ``i`` of ``cov``)."""
    def make(i: int, name: str) -> property:
        return property(lambda self: self.cov[i], doc=f"Covariance entry ``{name}`` (N,) (a view).")
    return [make(i, name) for i, name in enumerate(names)]


class _Track:
    """A batched track stored in one matrix ``X``; ``dim`` state vectors of 3 rows, then ``cov``."""

    dim = 0
    VECTORS: tuple[str, ...] = ()
    """Names of the state vectors (3 rows each), in row order."""
    COV: tuple[str, ...] = ()
    """Names of the covariance entries (one row each), after the state vectors."""

    @classmethod
    def row(cls, name: str) -> slice | int:
        """The rows of ``X`` holding state vector or covariance entry ``name``."""
        if name in cls.VECTORS:
            i = 3 * cls.VECTORS.index(name)
            return slice(i, i + 3)
        return cls.cov_row(name)

    @classmethod
    def cov_row(cls, name: str) -> int:
        """The row of ``X`` holding covariance entry ``name``."""
        return 3 * cls.dim + cls.COV.index(name)

    @classmethod
    def n_rows(cls) -> int:
        """Rows of the track matrix."""
        return 3 * cls.dim + len(cls.COV)

    def __init__(self, X: np.ndarray) -> None:
        self.X = X
        n, d = X.shape[1], self.dim
        self.x = X[:3 * d].reshape(d, 3, n)
        """The state vectors (dim, 3, N) (a view of ``X``)."""
        self.cov = X[3 * d:]
        """The covariance entries (a view of ``X``)."""
        self.vecs: tuple[np.ndarray, ...] = tuple(self.x)
        """The state vectors (3, N) each (views; ``p, v[, a]``)."""
        self.covs: tuple[np.ndarray, ...] = tuple(self.cov)
        """The covariance entries (N,) each (views, in the order of ``cov``)."""

    def __getstate__(self) -> dict[str, np.ndarray]:
        """Pickle the matrix only (the views are re-created on unpickling)."""
        return {"X": self.X}

    def __setstate__(self, state: dict[str, np.ndarray]) -> None:
        """Restore from :meth:`__getstate__`."""
        _Track.__init__(self, state["X"])

    @property
    def p(self) -> np.ndarray:
        """Position estimates (3, N)."""
        return self.x[0]

    @property
    def v(self) -> np.ndarray:
        """Velocity estimates (3, N)."""
        return self.x[1]


class CVTrack(_Track):
    """CV filter state: ``p, v`` (3, N); covariance ``pp, pv, vv`` (N,) (views of ``X`` (9, N))."""

    dim = 2
    VECTORS = ("p", "v")
    COV = ("pp", "pv", "vv")
    pp, pv, vv = _cov_rows(COV)


class CATrack(_Track):
    """CA filter state: ``p, v, a`` (3, N) and the six covariance entries (views of ``X`` (15, N))."""

    dim = 3
    VECTORS = ("p", "v", "a")
    COV = ("pp", "pv", "pa", "vv", "va", "aa")
    pp, pv, pa, vv, va, aa = _cov_rows(COV)

    @property
    def a(self) -> np.ndarray:
        """Acceleration estimates (3, N)."""
        return self.x[2]


CV_ROWS = CVTrack.n_rows()
"""Rows of a CV track matrix (9: p, v, then pp, pv, vv)."""
CA_ROWS = CATrack.n_rows()
"""Rows of a CA track matrix (15: p, v, a, then pp, pv, pa, vv, va, aa)."""


def cv_process_noise(dt: np.ndarray | float, q_var: np.ndarray | float) -> tuple[np.ndarray | float, ...]:
    """The CV process-noise entries ``(Q_pp, Q_pv, Q_vv)`` for acceleration variance ``q_var``."""
    return q_var * (0.25 * dt**4), q_var * (0.5 * dt**3), q_var * (dt * dt)


def cv_predict(t: CVTrack, dt: np.ndarray | float, q_var: np.ndarray | float,
               q: tuple[np.ndarray | float, ...] | None = None) -> None:
    """In-place CV predict: ``x = F x``, ``P = F P F^T + Q`` (``q``: :func:`cv_process_noise` of
    ``dt, q_var`` if already computed)."""
    q_pp, q_pv, q_vv = cv_process_noise(dt, q_var) if q is None else q
    p, v = t.vecs
    pp, pv, vv = t.covs
    p += dt * v
    # new pp, pv use the old pv, vv: update pp first, then pv, then vv
    pp += 2.0 * dt * pv
    pp += dt * dt * vv
    pp += q_pp
    pv += dt * vv
    pv += q_pv
    vv += q_vv


def cv_update(t: CVTrack, z: np.ndarray, r_var: np.ndarray, mask: np.ndarray) -> None:
    """In-place CV update with position measurement ``z`` (3, N), variance ``r_var`` (N,), where ``mask``."""
    p, v = t.vecs
    pp, pv, vv = t.covs
    s = pp + r_var
    k0 = np.where(mask, pp / s, 0.0)
    k1 = np.where(mask, pv / s, 0.0)
    y = z - p
    p += k0 * y
    v += k1 * y
    vv -= k1 * pv  # with the old pv
    pv -= k0 * pv
    pp -= k0 * pp


def ca_predict(t: CATrack, dt: float, q_var: np.ndarray | float) -> None:
    """In-place CA predict: ``x = F x``, ``P = F P F^T + Q`` (closed form of the 3x3 product)."""
    h = 0.5 * dt * dt
    p, v, a = t.vecs
    p += dt * v + h * a
    v += dt * a
    pp, pv, pa, vv, va, aa = t.covs
    # M = F P (rows 0, 1; row 2 = P row 2), from the old entries
    m00 = pp + dt * pv + h * pa
    m01 = pv + dt * vv + h * va
    m02 = pa + dt * va + h * aa
    m11 = vv + dt * va
    m12 = va + dt * aa
    g0, g1 = h, dt
    np.add(m00 + dt * m01 + h * m02, q_var * (g0 * g0), out=pp)
    np.add(m01 + dt * m02, q_var * (g0 * g1), out=pv)
    np.add(m02, q_var * g0, out=pa)
    np.add(m11 + dt * m12, q_var * (g1 * g1), out=vv)
    np.add(m12, q_var * g1, out=va)
    aa += q_var


def ca_update(t: CATrack, z: np.ndarray, r_var: np.ndarray, mask: np.ndarray) -> None:
    """In-place CA update with position measurement ``z`` (3, N), variance ``r_var`` (N,), where ``mask``."""
    p, v, a = t.vecs
    pp, pv, pa, vv, va, aa = t.covs
    s = pp + r_var
    k0 = np.where(mask, pp / s, 0.0)
    k1 = np.where(mask, pv / s, 0.0)
    k2 = np.where(mask, pa / s, 0.0)
    y = z - p
    p += k0 * y
    v += k1 * y
    a += k2 * y
    # entries from the old pv, pa first
    vv -= k1 * pv
    va -= k1 * pa
    aa -= k2 * pa
    pp -= k0 * pp
    pv -= k0 * pv
    pa -= k0 * pa


def cv_init(p: np.ndarray, v: np.ndarray, p_var: np.ndarray, v_var: np.ndarray) -> CVTrack:
    """A CV track at ``p, v`` (3, N) with diagonal covariance ``p_var, v_var`` (N,)."""
    X = np.zeros((CV_ROWS, p.shape[1]))
    R = CVTrack.row
    X[R("p")], X[R("v")], X[R("pp")], X[R("vv")] = p, v, p_var, v_var
    return CVTrack(X)


def ca_init(p: np.ndarray, v: np.ndarray, a: np.ndarray, p_var: np.ndarray, v_var: np.ndarray,
            a_var: np.ndarray) -> CATrack:
    """A CA track at ``p, v, a`` (3, N) with diagonal covariance (N,)."""
    X = np.zeros((CA_ROWS, p.shape[1]))
    R = CATrack.row
    X[R("p")], X[R("v")], X[R("a")], X[R("pp")], X[R("vv")], X[R("aa")] = p, v, a, p_var, v_var, a_var
    return CATrack(X)
