"""Schedule specs: values over training progress."""

from __future__ import annotations

import pickle

import pytest
from pydantic import TypeAdapter, ValidationError

from hlynr.config.schedules import FloatOrSchedule, value_at

ADAPTER = TypeAdapter(FloatOrSchedule)


@pytest.mark.parametrize("spec, expected", [
    ({"schedule": "linear", "start": 1.0, "end": 0.0}, [1.0, 0.75, 0.5, 0.0]),
    ({"schedule": "linear", "start": 1.0, "end": 0.0, "fraction": 0.5}, [1.0, 0.5, 0.0, 0.0]),
    ({"schedule": "exponential", "start": 1.0, "end": 0.01}, [1.0, 10 ** -0.5, 0.1, 0.01]),
    ({"schedule": "step", "start": 1.0, "end": 0.0, "steps": 2}, [1.0, 1.0, 0.5, 0.0]),
    (0.3, [0.3, 0.3, 0.3, 0.3]),
])
def test_schedule_values(spec: object, expected: list[float]) -> None:
    sched = ADAPTER.validate_python(spec)
    got = [value_at(sched, p) for p in (0.0, 0.25, 0.5, 1.0)]
    assert got == pytest.approx(expected)


def test_exponential_needs_positive_ends_and_schedules_pickle() -> None:
    with pytest.raises(ValidationError, match="start > 0"):
        ADAPTER.validate_python({"schedule": "exponential", "start": 0.0, "end": 1.0})
    sched = ADAPTER.validate_python({"schedule": "linear", "start": 2.0, "end": 0.0})
    assert pickle.loads(pickle.dumps(sched))(0.5) == pytest.approx(1.0)
