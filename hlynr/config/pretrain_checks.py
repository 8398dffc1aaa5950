"""The checks of the ``pretrain:`` section against the algorithm, wrappers, curriculum and env.

:func:`check_pretrain` is one of the checks across sections (:mod:`hlynr.config.checks`). The
teacher must be able to drive the env through the config's own sensor path and accept its
spaces; a truth-fed teacher (``observes: truth``) needs a batched VecEnv that publishes a
privileged observation (:class:`~hlynr.registries.PrivilegedObservationSource`); the algorithm's
policy must take the loss, and the stages need a curriculum and enough env copies.
"""

from __future__ import annotations

from pathlib import Path

from hlynr.config.env_params_checks import baseline_env_problem, stage_params_problem
from hlynr.config.pretrain import (
    CLOSED_FORM_ENTROPY,
    DETERMINISTIC,
    FEED_FORWARD,
    ON_POLICY,
    RECURRENT,
    STOCHASTIC,
    PretrainConfig,
)
from hlynr.config.probe import LazyProbe, Problem
from hlynr.config.schema import ExperimentConfig
from hlynr.registries import BASELINES, BATCHED_ENVS, WRAPPERS


def check_pretrain(config: ExperimentConfig, env: LazyProbe) -> Problem:
    pre = config.pretrain
    if pre is None:
        return None
    algo = config.algo.name
    if algo not in FEED_FORWARD + RECURRENT:
        return ("pretrain",), (f"pretraining supports {', '.join(FEED_FORWARD + RECURRENT)}, "
                               f"not {algo}")
    cloning = pre.teacher is not None
    if pre.freeze_normalization and not any(w.name == "normalize" for w in config.wrappers):
        return ("pretrain", "freeze_normalization"), (
            "there are no normalisation statistics to freeze: the config has no normalize wrapper")
    if cloning and pre.loss == "nll" and algo not in STOCHASTIC:
        return ("pretrain", "loss"), (f"{algo}'s actor is deterministic: use loss: mse")
    if cloning and pre.entropy_weight > 0 and algo not in CLOSED_FORM_ENTROPY:
        return ("pretrain", "entropy_weight"), (
            f"{algo}'s policy has no closed-form entropy: set entropy_weight: 0")
    if pre.critic_warmup is not None and algo not in ON_POLICY:
        return ("pretrain", "critic_warmup"), (
            f"the critic warm-up fits the value function of on-policy algorithms "
            f"({', '.join(ON_POLICY)}), not {algo}'s Q-functions")
    problem = _check_regularizer(pre, algo)
    if problem is not None:
        return problem
    if pre.regularizer is not None and pre.regularizer.loss == "bc" and pre.teacher is None:
        return ("pretrain", "regularizer", "loss"), (
            "loss: bc needs this run's teacher data: use loss: kl (TD3: mse) with from_run")
    for i, spec in enumerate(config.wrappers):
        if spec.name == "residual_guidance":
            return ("wrappers", i), ("pretrain clones full commands: it cannot be combined "
                                     "with residual_guidance")
    if pre.stages is not None:
        problem = _check_pretrain_stages(pre, config)
        if problem:
            return problem
    if pre.from_run is not None:
        folder = Path(pre.from_run) / "pretrain"
        if not (folder / "model.zip").is_file():
            return ("pretrain", "from_run"), f"{pre.from_run} has no pretrained model ({folder})"
        return None
    return _check_teacher(pre, config, env)


def _check_pretrain_stages(pre: PretrainConfig, config: ExperimentConfig) -> Problem:
    assert pre.stages is not None
    if pre.teacher is None:
        return ("pretrain", "stages"), "stages spread the teacher's data: they need a teacher"
    if config.callback("curriculum") is None:
        return ("pretrain", "stages"), ("stages need a curriculum callback (it sets every env "
                                        "copy to its stage when RL starts)")
    if len(pre.stages) > config.env.n_envs:
        return ("pretrain", "stages"), (f"{len(pre.stages)} stages need at least as many env "
                                        f"copies (env.n_envs is {config.env.n_envs})")
    problem = stage_params_problem(config, pre.stages)
    return None if problem is None else (("pretrain", "stages", *problem[0]), problem[1])


def _check_regularizer(pre: PretrainConfig, algo: str) -> Problem:
    reg = pre.regularizer
    if reg is None:
        return None
    if reg.loss == "kl" and algo in DETERMINISTIC:
        return ("pretrain", "regularizer", "loss"), (
            f"{algo}'s actor is deterministic and has no KL: use loss: mse (squared distance "
            "to the snapshot's action) or loss: bc")
    if reg.loss == "mse" and algo not in DETERMINISTIC:
        return ("pretrain", "regularizer", "loss"), (
            f"loss: mse is for deterministic actors ({', '.join(DETERMINISTIC)}); "
            f"{algo} uses loss: kl")
    return None


def _check_teacher(pre: PretrainConfig, config: ExperimentConfig, env: LazyProbe) -> Problem:
    assert pre.teacher is not None
    entry = BASELINES.get(pre.teacher.name)
    if config.env.id not in entry.env_ids:
        return ("pretrain", "teacher", "name"), (
            f"teacher '{pre.teacher.name}' cannot drive {config.env.id}: it drives "
            f"{', '.join(entry.env_ids)}")
    truth = pre.teacher.observes == "truth"
    if truth:
        problem = _privileged_problem(config, env)
        if problem:
            return ("pretrain", "teacher", "observes"), f"observes: truth {problem}"
    probe = env()  # the spaces after the task's (env-level) wrappers
    problem = baseline_env_problem(entry, config, probe.privileged_overrides if truth else None)
    if problem:
        sees = (f"env as with {probe.privileged_overrides} (observes: truth)" if truth
                else "student's own sensor path")
        return ("pretrain", "teacher", "name"), (
            f"teacher '{pre.teacher.name}' {problem}; the teacher sees the {sees}")
    space = probe.privileged_space if truth else probe.observation_space
    try:
        entry.policy(space, probe.action_space, pre.teacher.params)
    except ValueError as exc:
        return ("pretrain", "teacher", "name"), f"the teacher cannot drive this env: {exc}"
    return None


def _privileged_problem(config: ExperimentConfig, env: LazyProbe) -> str | None:
    """Why the env of ``config`` cannot show a teacher the truth, or None."""
    where = f"env '{config.env.id}'"
    if config.env.type != "gymnasium" or config.env.id not in BATCHED_ENVS:
        return f"needs a batched engine that publishes the true state; {where} has none"
    if config.env.vectoriser != "batched":
        return (f"needs env.vectoriser: batched ({where} with vectoriser "
                f"'{config.env.vectoriser}' publishes no true state)")
    if env().privileged_space is None:
        return f"needs a batched engine that publishes the true state; that of {where} does not"
    for spec in config.wrappers:
        if WRAPPERS.get(spec.name).env is not None:  # a task wrapper (sensor model, time limit)
            return (f"shows the teacher the engine's own observation, which the task wrapper "
                    f"'{spec.name}' would not reach: remove it or use observes: own")
    return None


__all__ = ["check_pretrain"]
