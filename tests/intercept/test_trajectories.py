"""The engine reproduces the stored reference trajectories, recorded on another machine, within the
tolerance that machine arithmetic allows (see ``intercept_trajectories.py``), and that tolerance
still catches a real change of behaviour."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import intercept_trajectories as T
import numpy as np
import pytest

CASE_INDEX = {c[0]: i for i, c in enumerate(T.CASES)}


@pytest.fixture(scope="module")
def reference() -> dict[str, np.ndarray]:
    with np.load(T.FIXTURE) as z:
        return {k: z[k] for k in z.files}


@pytest.mark.parametrize("index", range(len(T.CASES)), ids=[c[0] for c in T.CASES])
def test_trajectory_matches_recording(index: int, reference: dict[str, np.ndarray]) -> None:
    T.assert_matches(T.record(index), reference)


def test_cases_cover_every_end_and_sensor(reference: dict[str, np.ndarray]) -> None:
    """The fixture is worth comparing against: intercepts, misses and other ends occur."""
    codes = np.concatenate([v[:, 6] for k, v in reference.items() if k.endswith("batched_info")])
    assert {1, 2, 4} <= set(codes.astype(int).tolist())
    assert {c[2].get("filter", "truth") for c in T.CASES} >= {"truth", "cv", "ca"}


class LastBitNumpy:
    """``numpy`` whose transcendental functions return each result moved by one unit in the last
    place up, down or not at all, at random: the difference another CPU's SIMD implementation or
    another libm may make."""

    FUNCS = frozenset({"exp", "expm1", "log", "log10", "sin", "cos", "tan", "arctan2"})

    def __init__(self, seed: int) -> None:
        self._rng = np.random.default_rng(seed)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(np, name)
        return self._nudged(attr) if name in self.FUNCS else attr

    def _nudged(self, f: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            out = f(*args, **kwargs)
            a = np.asarray(out)
            step = self._rng.integers(-1, 2, a.shape)
            nudged = np.where(step == 0, a, np.nextafter(a, np.copysign(np.inf, step).astype(a.dtype)))
            if isinstance(out, np.ndarray) and out.ndim:
                out[...] = nudged  # in place: the result may have been written into an out= array
                return out
            return nudged.astype(a.dtype)[()]
        return call


ENGINE_MODULES = ("hlynr.envs.intercept.physics", "hlynr.envs.intercept.dynamics",
                  "hlynr.envs.intercept.observation", "hlynr.envs.intercept.param_table",
                  "hlynr.envs.intercept.rng", "hlynr.envs.intercept.sampling", "hlynr.envs.intercept.sensing",
                  "hlynr.tracking.radar", "hlynr.tracking.kalman", "hlynr.tracking.tracker")
"""The modules whose NumPy calls :class:`LastBitNumpy` replaces."""


@pytest.mark.parametrize("case", ["fast_cv", "sensor_ca_delay"])
def test_last_bit_differences_stay_within_tolerance(case: str, reference: dict[str, np.ndarray],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """With every transcendental result of the engine off by up to one ulp (the two cases that
    amplify it most), the trajectories still match the recording: the tolerance is not tight."""
    fake = LastBitNumpy(seed=0)
    for name in ENGINE_MODULES:
        monkeypatch.setattr(importlib.import_module(name), "np", fake)
    T.assert_matches(T.record(CASE_INDEX[case]), reference)


def _gravity(mp: pytest.MonkeyPatch) -> None:
    mp.setattr("hlynr.envs.intercept.physics.G0", 9.81)  # 9.80665 in the engine


def _drag(mp: pytest.MonkeyPatch) -> None:
    from hlynr.envs.intercept import physics

    mp.setattr(physics, "_HALF_RHO0", physics._HALF_RHO0 * 1.001)


def _manoeuvre(mp: pytest.MonkeyPatch) -> None:
    from hlynr.envs.intercept import dynamics

    magnitude = dynamics.maneuver_magnitude
    mp.setattr(dynamics, "maneuver_magnitude", lambda *a, **kw: 1.001 * magnitude(*a, **kw))


def _radar_noise(mp: pytest.MonkeyPatch) -> None:
    mp.setattr("hlynr.envs.intercept.rng.STREAM_RADAR", 7)  # another, equally good noise draw


@pytest.mark.parametrize(("change", "case"), [
    (_gravity, "standard_truth"), (_drag, "standard_cv"), (_manoeuvre, "manoeuvring_ca"),
    (_radar_noise, "sensor_ca"),
], ids=["gravity 9.81", "drag +0.1%", "manoeuvre +0.1%", "radar noise draw"])
def test_tolerance_catches_behaviour_changes(change: Callable[[pytest.MonkeyPatch], None], case: str,
                                            reference: dict[str, np.ndarray],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A small deliberate change of the physics or of the noise fails the comparison."""
    T.assert_matches(T.record(CASE_INDEX[case]), reference)  # the case matches as it is
    change(monkeypatch)
    with pytest.raises(AssertionError):
        T.assert_matches(T.record(CASE_INDEX[case]), reference)
