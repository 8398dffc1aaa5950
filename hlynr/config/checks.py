"""Every check across config sections, run once after each section has been validated.

:func:`hlynr.config.validate_config` validates each section (``ExperimentConfig``), then calls
:func:`hlynr.config.check_config`, which reports the first problem of :func:`first_problem` with
its key path, then checks the ``tune:`` search space. :func:`first_problem` runs, in this
order:

* the wrapper chain: env-level wrappers before vec-level ones, none that wraps single envs under
  a vectoriser that has none, and each wrapper's own place in the chain (:class:`ChecksChain`,
  e.g. ``residual_guidance``);
* callbacks against the algorithm, and each callback's own check against the config
  (:class:`ChecksConfig`, e.g. curriculum stages against the env's parameters);
* env-level wrappers against the env they wrap (:class:`ChecksSpaces`, e.g. ``mask_observation``
  indices against the observation's length; any wrapper that fails to wrap the probe env);
* the algorithm can act on the env's action space (gSDE needs continuous actions);
* on-policy rollouts: ``n_steps * env rows > 1`` and ``1 < batch_size <= n_steps * env rows``;
* episodic ``train_freq`` (``[k, episode]``) needs a single env;
* TQC keeps at least one target quantile (``top_quantiles_to_drop_per_net < n_quantiles``);
* an evaluation at a curriculum stage index needs a curriculum with that stage;
* a centralised or privileged critic needs a batched VecEnv that publishes a critic state
  (:class:`~hlynr.registries.CriticStateSource`);
* ``updates_per_row`` and ``replay_buffer_class: RowReplayBuffer`` need a batched VecEnv of
  multi-agent rows (:class:`~hlynr.registries.LiveRowsSource`) and an algorithm that fills the
  row buffer; ``updates_per_row`` excludes ``gradient_steps`` and another buffer;
* ``huber_delta`` only with ``value_loss: huber``;
* the ``pretrain:`` section against the algorithm, wrappers, curriculum and env
  (:mod:`hlynr.config.pretrain_checks`).

The checks of single sections are in :mod:`hlynr.config.section_checks`. Then the ``tune:``
search space: every candidate value of every tuned key gives a valid config (all of its problems
are reported, not just the first; :mod:`hlynr.config.search_space_checks`).

The checks that need the env read one probe env (:mod:`hlynr.config.probe`): one env copy is
built per validation at most, and none when the same env was probed before; the cache is keyed
by the plain data the probe is built from, so it hits across validations and holds no config.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from hlynr.config.loader import dotted, error_message, specific_errors
from hlynr.config.pretrain_checks import check_pretrain
from hlynr.config.probe import LazyProbe, ProbeFailed, Problem
from hlynr.config.schema import ExperimentConfig
from hlynr.config.section_checks import (
    check_action_space,
    check_agent_rows,
    check_callbacks,
    check_evaluation_stage,
    check_global_state,
    check_quantiles,
    check_rollout,
    check_train_freq,
    check_value_loss,
    check_wrapper_chain,
    check_wrappers_fit_env,
)

_CHECKS = (check_wrapper_chain, check_callbacks, check_wrappers_fit_env, check_action_space,
           check_rollout, check_train_freq, check_quantiles, check_evaluation_stage,
           check_global_state, check_agent_rows, check_value_loss, check_pretrain)


def first_problem(config: ExperimentConfig) -> Problem:
    """The first cross-section problem of ``config`` (not its search space), or None."""
    env = LazyProbe(config)
    try:
        for check in _CHECKS:
            problem = check(config, env)
            if problem:
                return problem
    except ProbeFailed as exc:
        return exc.problem
    return None


def validation_lines(data: dict[str, Any]) -> list[str]:
    """The problems of plain config data, one ``key.path: message`` line each (none if valid)."""
    try:
        config = ExperimentConfig.model_validate(data)
    except ValidationError as exc:
        lines = []
        for loc, error in specific_errors(exc, data):
            line = f"{dotted(loc) or '(top level)'}: {error_message(error)}"
            if line not in lines:
                lines.append(line)
        return lines
    problem = first_problem(config)
    return [] if problem is None else [f"{dotted(problem[0]) or '(top level)'}: {problem[1]}"]


__all__ = ["first_problem", "validation_lines"]
