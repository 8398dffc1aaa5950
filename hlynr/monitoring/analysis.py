"""Read a run's progress log and say how it is going: progress, peak, trend and alerts.

Everything here is a pure function of the records (and the current time), so it is easy to test
on synthetic logs.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

COLLAPSE_FRACTION = 0.5  # latest success below this fraction of the peak...
COLLAPSE_MIN_PEAK = 0.1  # ...of a peak at least this high
STALL_EVALS = 8  # evaluations without a new peak
TREND_EVALS = 5  # evaluations used for trends


@dataclass
class Alert:
    """Something that looks wrong with a run."""

    kind: str  # collapse | stall | reward_success_divergence | not_writing | failed
    message: str


@dataclass
class RunStatus:
    """What a monitor shows about a run."""

    run_dir: str
    state: str  # running | finished | stale | starting
    timesteps: int = 0
    total_timesteps: int | None = None
    progress: float | None = None
    steps_per_s: float | None = None
    eta_s: float | None = None
    wall_time: float | None = None
    evaluations: int = 0
    success: float | None = None
    success_ci: tuple[float, float] | None = None
    peak_success: float | None = None
    peak_timesteps: int | None = None
    mean_reward: float | None = None
    trend: str | None = None  # rising | falling | flat
    trend_slope_per_1m: float | None = None
    recent_success: list[float] = field(default_factory=list)
    train_success: float | None = None
    train_success_by_stage: dict[str, float] = field(default_factory=dict)
    eval_success_by_stage: dict[str, float] = field(default_factory=dict)
    stage: int | None = None
    ent_coef: float | None = None
    learning_rate: float | None = None
    end: dict[str, Any] | None = None
    alerts: list[Alert] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``--json``."""
        return asdict(self)


def _slope(x: Sequence[float], y: Sequence[float]) -> float:
    if len(x) < 2 or np.ptp(x) == 0:
        return 0.0
    return float(np.polyfit(np.asarray(x, float), np.asarray(y, float), 1)[0])


def eval_metric(rec: dict[str, Any]) -> float | None:
    """The success rate of an eval record (None when the env reports no success)."""
    return rec.get("eval_success_rate")


def analyse(
    records: list[dict[str, Any]], run_dir: str, *, mtime: float | None = None,
    now: float | None = None, stale_after: float = 300.0,
) -> RunStatus:
    """Summarise a progress log; ``mtime`` is when the log last changed."""
    now = time.time() if now is None else now
    st = RunStatus(run_dir=run_dir, state="starting")
    rollouts = [r for r in records if r.get("type") == "rollout"]
    evals = [r for r in records if r.get("type") == "eval"]
    lifecycle = [r for r in records if r.get("type") == "event"
                 and r.get("event") in ("start", "resume", "end")]
    if lifecycle and lifecycle[-1]["event"] == "end":  # ended, and not resumed since
        st.end = lifecycle[-1]
    if rollouts:
        last = rollouts[-1]
        st.timesteps = int(last["timesteps"])
        st.total_timesteps = last.get("total_timesteps")
        st.wall_time = last.get("wall_time")
        recent = rollouts[-5:]
        st.steps_per_s = float(np.mean([r["steps_per_s"] for r in recent if r.get("steps_per_s")]
                                       or [0.0])) or None
        st.train_success = last.get("success_rate")
        st.train_success_by_stage = dict(last.get("stage_success") or {})
        st.stage = last.get("stage")
        st.ent_coef = last.get("ent_coef")
        st.learning_rate = last.get("learning_rate")
    if evals:
        st.timesteps = max(st.timesteps, int(evals[-1]["timesteps"]))
        st.evaluations = len(evals)
        st.mean_reward = evals[-1].get("eval_mean_reward")
        st.eval_success_by_stage = {name: v["success_rate"] for name, v in
                                    (evals[-1].get("eval_stages") or {}).items()
                                    if isinstance(v, dict) and v.get("success_rate") is not None}
        succ = [(int(r["timesteps"]), s) for r in evals if (s := eval_metric(r)) is not None]
        if succ:
            st.success = succ[-1][1]
            last = evals[-1]
            if "eval_success_ci_low" in last:
                st.success_ci = (last["eval_success_ci_low"], last["eval_success_ci_high"])
            peak_t, peak = max(succ, key=lambda p: (p[1], -p[0]))
            st.peak_success, st.peak_timesteps = peak, peak_t
            window = succ[-TREND_EVALS:]
            st.recent_success = [v for _, v in window]
            slope = _slope([t for t, _ in window], [v for _, v in window])
            st.trend_slope_per_1m = slope * 1e6
            span = (window[-1][0] - window[0][0]) if len(window) > 1 else 0
            change = slope * span
            st.trend = "rising" if change > 0.05 else "falling" if change < -0.05 else "flat"
    if st.total_timesteps:
        st.progress = min(st.timesteps / st.total_timesteps, 1.0)
        if st.steps_per_s and st.end is None:
            st.eta_s = max(st.total_timesteps - st.timesteps, 0) / st.steps_per_s
    if st.end is not None:
        st.state = "finished"
        if st.end.get("status") == "failed":
            st.alerts.append(Alert("failed", f"run failed: {st.end.get('reason')}"))
    elif mtime is not None and now - mtime > stale_after:
        st.state = "stale"
        st.alerts.append(Alert("not_writing", f"no progress written for {now - mtime:.0f} s "
                                              "and no end record: the run may have died"))
    elif rollouts or evals:
        st.state = "running"
    st.alerts.extend(_eval_alerts(evals, st))
    return st


def _eval_alerts(evals: list[dict[str, Any]], st: RunStatus) -> list[Alert]:
    alerts: list[Alert] = []
    succ = [(int(r["timesteps"]), s, r.get("eval_mean_reward")) for r in evals
            if (s := eval_metric(r)) is not None]
    if not succ or st.peak_success is None or st.success is None:
        return alerts
    if st.peak_success >= COLLAPSE_MIN_PEAK and st.success < COLLAPSE_FRACTION * st.peak_success:
        alerts.append(Alert("collapse", f"success {st.success:.1%} is below "
                                        f"{COLLAPSE_FRACTION:.0%} of its peak {st.peak_success:.1%} "
                                        f"(at {st.peak_timesteps:,} timesteps)"))
    peak_index = max(range(len(succ)), key=lambda i: (succ[i][1], -i))
    since_peak = len(succ) - 1 - peak_index
    if since_peak >= STALL_EVALS and st.peak_success < 0.99:
        alerts.append(Alert("stall", f"no new success peak in the last {since_peak} evaluations "
                                     f"(peak {st.peak_success:.1%} at {st.peak_timesteps:,})"))
    window = succ[-TREND_EVALS:]
    if len(window) >= 3 and all(w[2] is not None for w in window):
        t = [w[0] for w in window]
        span = t[-1] - t[0]
        d_success = _slope(t, [w[1] for w in window]) * span
        rewards: list[float] = [w[2] for w in window if w[2] is not None]  # all of them
        scale = max(float(np.std(rewards)), abs(float(np.mean(rewards))), 1e-9)
        d_reward = _slope(t, rewards) * span / scale
        if d_reward > 0.05 and d_success < -0.05:
            alerts.append(Alert("reward_success_divergence",
                                "evaluation reward is rising while success falls: the reward may "
                                "be exploitable (shaping dominates the terminal outcome)"))
    return alerts
