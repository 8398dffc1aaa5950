"""The engine reproduces the stored reference trajectories bit for bit (see ``intercept_trajectories.py``)."""

from __future__ import annotations

import intercept_trajectories as T
import numpy as np
import pytest


@pytest.fixture(scope="module")
def reference() -> dict[str, np.ndarray]:
    with np.load(T.FIXTURE) as z:
        return {k: z[k] for k in z.files}


@pytest.mark.parametrize("index", range(len(T.CASES)), ids=[c[0] for c in T.CASES])
def test_trajectory_is_bit_identical(index: int, reference: dict[str, np.ndarray]) -> None:
    got = T.record(index)
    assert sorted(got) == sorted(k for k in reference if k.startswith(T.CASES[index][0] + "/"))
    for key, value in got.items():
        np.testing.assert_array_equal(value, reference[key], err_msg=key)
        assert value.dtype == reference[key].dtype, key


def test_cases_cover_every_end_and_sensor(reference: dict[str, np.ndarray]) -> None:
    """The fixture is worth comparing against: intercepts, misses and other ends occur."""
    codes = np.concatenate([v[:, 6] for k, v in reference.items() if k.endswith("batched_info")])
    assert {1, 2, 4} <= set(codes.astype(int).tolist())
    assert {c[2].get("filter", "truth") for c in T.CASES} >= {"truth", "cv", "ca"}
