"""Score every training seed of run groups on the same episodes, and aggregate across seeds.

``evaluate.py GROUP [GROUP ...]`` scores each seed's model (``best``, ``final``, ...) on the
same seeded episodes as every other seed, group and scripted baseline. A seed whose run failed,
is still training or has no such model is reported and left out of the aggregate.

Across the scored seeds of a group (one score per seed: its success rate, or its mean reward
for an env that reports no success) the aggregate is the mean and the interquartile mean with
stratified-bootstrap 95 % intervals (:mod:`hlynr.evaluation.aggregate`). Against a reference (a
scripted baseline, or another group) it adds the probability of improvement and how many seeds
the claim holds in: each seed's model against the reference on the same episodes, paired
(Newcombe interval and exact McNemar test for success; the exact sign test for reward),
counted when significant at 5 % in the claimed direction (the sign of the aggregate
difference).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hlynr.config import ExperimentConfig
from hlynr.config.loader import ConfigError
from hlynr.config.stages import StageSelector
from hlynr.evaluation.aggregate import REPS, holds_in, probability_of_improvement_ci, stratified_bootstrap
from hlynr.evaluation.episodes import EvaluationSummary
from hlynr.evaluation.scoring import LoadError, ScoreSettings, score_model
from hlynr.evaluation.stats import mcnemar_exact_p, paired_difference
from hlynr.evaluation.targets import ModelTarget, TargetError, resolve_targets
from hlynr.runs.group import CELL_PREFIX, GroupError, RunGroup, is_grid, is_group, read_group
from hlynr.runs.lock import holder
from hlynr.runs.status import ended_status

ALPHA = 0.05
"""Significance level of a per-seed comparison ("holds in k of n")."""


class GroupEvaluationError(Exception):
    """Groups that cannot be evaluated together (not a group, mixed envs); ``str()`` says why."""


@dataclass
class SeedResult:
    """One training seed of a group: scored, or left out of the aggregate with the reason."""

    seed: int
    run_dir: Path
    target: ModelTarget | None = None
    reason: str | None = None  # why it is left out (None: scored)
    summary: EvaluationSummary | None = None

    @property
    def scored(self) -> bool:
        return self.summary is not None


@dataclass
class GroupResult:
    """A group, its seeds, and (once scored) their aggregate."""

    group: RunGroup
    label: str
    seeds: list[SeedResult]
    aggregate: dict[str, Any] = field(default_factory=dict)

    @property
    def scored(self) -> list[SeedResult]:
        return [s for s in self.seeds if s.scored]

    @property
    def left_out(self) -> list[SeedResult]:
        return [s for s in self.seeds if not s.scored]


def expand_groups(paths: list[str]) -> list[RunGroup]:
    """The groups named by ``paths``: group folders as they are, grid folders as their cells.

    :class:`GroupEvaluationError` for a path that is neither, or a damaged ``group.json``.
    """
    groups = []
    for text in paths:
        path = Path(text)
        if not path.exists():
            raise GroupEvaluationError(f"{text} does not exist")
        if is_grid(path) and not is_group(path):
            cells = sorted((p for p in path.glob(f"{CELL_PREFIX}*") if is_group(p)),
                           key=lambda p: _cell_index(p.name))
            if not cells:
                raise GroupEvaluationError(f"{text} is a grid without any cell group yet")
            groups += [_read(p) for p in cells]
        elif is_group(path):
            groups.append(_read(path))
        else:
            raise GroupEvaluationError(f"{text} is not a run group (no group.json): name group "
                                       "folders only, or evaluate single runs on their own")
    return groups


def _cell_index(name: str) -> int:
    try:
        return int(name[len(CELL_PREFIX):])
    except ValueError:
        return 1 << 30


def _read(path: Path) -> RunGroup:
    try:
        return read_group(path)
    except GroupError as exc:
        raise GroupEvaluationError(str(exc)) from None


def group_labels(groups: list[RunGroup]) -> list[str]:
    """Short distinct labels: the group's name, or its folder path where names repeat."""
    names = [g.name + (f" {_cell_text(g.cell)}" if g.cell else "") for g in groups]
    return [n if names.count(n) == 1 else str(g.path) for n, g in zip(names, groups)]


def _cell_text(cell: dict[str, Any]) -> str:
    return "(" + ", ".join(f"{k}={v}" for k, v in cell.items()) + ")"


def check_one_env(groups: list[RunGroup]) -> None:
    """:class:`GroupEvaluationError` unless every group trains on the same env id."""
    envs = {g.env_id for g in groups}
    if len(envs) > 1:
        listed = ", ".join(f"{g.path} ({g.env_id})" for g in groups)
        raise GroupEvaluationError(f"the groups train on different envs: {listed}; results across "
                                   "seeds are compared on one env: evaluate each env separately")


def resolve_seeds(group: RunGroup, label: str, which: str,
                  overrides: tuple[str, ...] = ()) -> GroupResult:
    """Each seed's model to score, or why the seed is left out (failed, training, no model)."""
    seeds = []
    for seed, run_dir in group.run_dirs().items():
        result = SeedResult(seed, run_dir)
        seeds.append(result)
        if not run_dir.is_dir():
            result.reason = "no run folder (not trained yet)"
            continue
        pid = holder(run_dir)
        if pid is not None:
            result.reason = f"still training (process {pid})"
            continue
        status = ended_status(run_dir)
        if status is not None and status[0] == "failed":
            result.reason = f"run failed: {status[1]}"
            continue
        try:
            result.target = resolve_targets(str(run_dir), which, None, overrides)[0]
        except (TargetError, ConfigError) as exc:
            result.reason = str(exc)
        if result.target is not None and result.target.config.env.id != group.env_id:
            result.reason = (f"trained on {result.target.config.env.id}, not the group's "
                             f"{group.env_id}")
            result.target = None
    return GroupResult(group, label, seeds)


def score_seeds(result: GroupResult, settings: ScoreSettings) -> None:
    """Score every seed that has a model; a model that does not load is left out, with why."""
    for seed in result.seeds:
        if seed.target is None:
            continue
        try:
            seed.summary = score_model(seed.target, settings)
        except LoadError as exc:
            seed.reason, seed.target = str(exc), None


def uses_success(summaries: list[EvaluationSummary]) -> bool:
    """Whether every summary reports success (then seeds are scored by success rate)."""
    return bool(summaries) and all("success_rate" in s.metrics() for s in summaries)


def seed_score(summary: EvaluationSummary, success: bool) -> float:
    """The one number a seed contributes to the aggregate."""
    m = summary.metrics()
    return float(m["success_rate"] if success else m["mean_reward"])


def aggregate(scores: list[float], reps: int = REPS, seed: int = 0) -> dict[str, Any]:
    """Mean and IQM of per-seed scores with stratified-bootstrap 95 % intervals."""
    return {"n": len(scores), "scores": list(scores),
            **stratified_bootstrap(np.asarray(scores, dtype=float)[:, None], reps=reps, seed=seed)}


def paired(first: EvaluationSummary, second: EvaluationSummary, success: bool) -> dict[str, float]:
    """``first - second`` on the same episodes: success rate (Newcombe interval, exact McNemar
    test) or, for an env without success, mean reward (exact two-sided sign test on the episodes
    where the rewards differ: McNemar's test is the sign test of the discordant pairs)."""
    a, b = first.episodes, second.episodes
    if [e.seed for e in a] != [e.seed for e in b]:
        raise ValueError("paired comparison on different episodes")
    if success:
        return paired_difference([bool(e.success) for e in a], [bool(e.success) for e in b])
    higher = sum(1 for x, y in zip(a, b) if x.reward > y.reward)
    lower = sum(1 for x, y in zip(a, b) if x.reward < y.reward)
    diffs = [x.reward - y.reward for x, y in zip(a, b)]
    return {"n": len(diffs), "difference": float(np.mean(diffs)) if diffs else 0.0,
            "only_first": higher, "only_second": lower, "sign_test_p": mcnemar_exact_p(higher, lower)}


def significant(comparison: dict[str, float], direction: int) -> bool:
    """Whether one per-seed comparison is significant at :data:`ALPHA` in ``direction``."""
    return direction != 0 and holds_in([comparison], direction, ALPHA) == 1


def compare(result: GroupResult, reference_label: str,
            reference: list[EvaluationSummary], success: bool, *,
            reps: int = REPS, seed: int = 0) -> dict[str, Any]:
    """``result``'s seeds against a reference: a scripted baseline (one summary, every seed
    against it) or another group's seeds (the i-th scored seed of each, in seed order).

    Returns the probability of improvement with its interval, the claimed direction (the sign
    of the difference of means), and how many seeds the claim holds in.
    """
    mine = [s.summary for s in result.scored if s.summary is not None]
    x = [seed_score(s, success) for s in mine]
    y = [seed_score(s, success) for s in reference]
    if not x or not y:
        return {"reference": reference_label, "n": 0}
    poi = probability_of_improvement_ci(np.asarray(x)[:, None], np.asarray(y)[:, None],
                                        reps=reps, seed=seed)
    gap = float(np.mean(x) - np.mean(y))
    direction = int(np.sign(gap)) if abs(gap) > 1e-12 else 0
    refs = reference * len(mine) if len(reference) == 1 else reference
    per_seed = []
    for s, summary, ref in zip(result.scored, mine, refs):
        c = paired(summary, ref, success)
        per_seed.append({"seed": s.seed, **c, "holds": significant(c, direction),
                         "opposite": significant(c, -direction)})
    return {"reference": reference_label, "n": len(per_seed), "difference_of_means": gap,
            "direction": direction, "probability_of_improvement": poi,
            "holds": sum(c["holds"] for c in per_seed),
            "opposite": sum(c["opposite"] for c in per_seed), "per_seed": per_seed}


def compare_info(result: GroupResult, reference_label: str, reference: list[EvaluationSummary],
                 key: str) -> dict[str, Any]:
    """Each scored seed's final-info ``key`` against the reference on the same episodes (a paired
    mean difference per seed), and in how many seeds it is significantly lower and higher."""
    mine = [(s.seed, s.summary) for s in result.scored if s.summary is not None]
    refs = reference * len(mine) if len(reference) == 1 else reference
    per_seed = [{"seed": seed, **summary.paired_info(ref, key)} for (seed, summary), ref in zip(mine, refs)]
    return {"reference": reference_label, "key": key, "n": len(per_seed), "per_seed": per_seed,
            "lower": holds_in(per_seed, -1, ALPHA), "higher": holds_in(per_seed, 1, ALPHA)}


def env_kwargs_differ(results: list[GroupResult], stage: StageSelector) -> list[str]:
    """Labels of groups whose scored seeds evaluate on other env parameters than the first's
    (same env id, e.g. a grid over a scenario): they are compared all the same, so say so."""
    def params(config: ExperimentConfig) -> str:
        kwargs = dict(config.env.kwargs)
        kwargs.update(config.stage(stage)[1] or {})
        return json.dumps(kwargs, sort_keys=True, default=str)

    seen = [(r.label, params(s.target.config)) for r in results for s in r.seeds
            if s.target is not None]
    first = seen[0][1] if seen else None
    return list(dict.fromkeys(label for label, p in seen if p != first))
