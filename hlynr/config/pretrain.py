"""The ``pretrain:`` section: clone a scripted teacher before RL, then fine-tune without forgetting.

::

    pretrain:
      teacher: {name: pn, params: {N: 6}}    # any registered baseline that drives the env
      # teacher: {name: pn, params: {N: 6}, observes: truth}   # privileged: acts on the truth
      method: dagger                         # bc | dagger
      steps: 50000                           # env steps of data (dagger: split over the rounds)
      rounds: 4                              # dagger rounds (bc: 1)
      student_prob: {schedule: linear, start: 0.0, end: 1.0}   # round k: value at k/(rounds-1)
      epochs: 20
      batch_size: 256
      learning_rate: 1.0e-3
      loss: nll                              # nll of the teacher's action | mse on the mean action
      entropy_weight: 0.0
      validation_fraction: 0.1
      patience: 3                            # epochs without a better validation loss
      stages: [{stage: basic}, {stage: advanced}]   # optional: collect over these env stages
      critic_warmup: {rollouts: 2, epochs: 10}
      regularizer: {loss: kl, weight: {schedule: linear, start: 1.0, end: 0.0, fraction: 0.5}}
      # TD3 (deterministic actor): regularizer: {loss: mse, ...}

``stages`` (optional) spreads the data over env parameter sets: before every collection round
the env copies are cut into ``len(stages)`` near-equal shares and share ``k`` takes ``stages[k]``
at its reset, so one data set covers every curriculum stage. It needs a ``curriculum``
callback, which sets every copy to its stage when RL starts.

``from_run: RUN`` starts from the pretrained model of another run instead of cloning again.
The checks against the rest of the config (the teacher drives the env through the config's own
sensor path; the algorithm's policy can take the loss) are in :mod:`hlynr.config.pretrain_checks`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from hlynr.config.base import StrictModel, reraise_nested
from hlynr.config.schedules import FloatOrSchedule, LinearSchedule, Schedule
from hlynr.registries import BASELINES, UnknownNameError

CENTRALISED = ("MAPPO", "AsymmetricPPO")
SAC = ("SAC", "stable_baselines3.SAC")
TD3 = ("TD3", "stable_baselines3.TD3")
PPO = ("PPO", "stable_baselines3.PPO")
FEED_FORWARD = (*PPO, "A2C", *CENTRALISED, *SAC, *TD3)
RECURRENT = ("RecurrentPPO", "sb3_contrib.RecurrentPPO")
ON_POLICY = (*PPO, "A2C", *CENTRALISED, *RECURRENT)
STOCHASTIC = (*PPO, "A2C", *CENTRALISED, *SAC, *RECURRENT)
CLOSED_FORM_ENTROPY = (*PPO, "A2C", *CENTRALISED, *RECURRENT)
DETERMINISTIC = TD3


class TeacherSpec(StrictModel):
    """A registered baseline and its parameters (validated by the baseline's parameter model).

    ``observes``: ``own`` (the observation the student's sensor path gives, as any baseline
    sees it) or ``truth`` (a privileged teacher: the observation the truth sensor would give at
    the same step, from an env that publishes one; its actions are carried into the student's
    own action frame before they are executed and used as labels).
    """

    name: str
    params: dict[str, Any] = Field(default_factory=dict)
    observes: Literal["own", "truth"] = Field(
        "own", description="own: the student's sensor path; truth: the true state (privileged)")

    @field_validator("name")
    @classmethod
    def _known(cls, name: str) -> str:
        try:
            BASELINES.get(name)
        except UnknownNameError as exc:
            raise ValueError(str(exc)) from None
        return name

    @model_validator(mode="after")
    def _params(self) -> TeacherSpec:
        try:
            checked = BASELINES.get(self.name).params.model_validate(self.params)
        except ValidationError as exc:
            raise reraise_nested(exc, self.params, "params") from None
        object.__setattr__(self, "params", checked.model_dump())
        return self


class CriticWarmup(StrictModel):
    """Fit the value function on rollouts of the cloned policy, actor frozen, before RL."""

    rollouts: int = Field(2, ge=1, le=1000, strict=True, description="rollouts of n_steps x envs")
    epochs: int = Field(10, ge=1, le=1000, strict=True, description="value epochs per rollout")
    learning_rate: float = Field(1.0e-3, gt=0, le=1.0)


class Regularizer(StrictModel):
    """A loss toward what was cloned, added to the RL loss with a weight schedule.

    ``bc``: negative log-likelihood of the teacher's labels (the pretraining data set; TD3:
    squared error of the actor's action); ``kl``: KL(cloned snapshot || policy) on the
    observations of the current rollout (off-policy: of the replay buffer); ``mse``: TD3's
    deterministic counterpart of ``kl``, the squared distance between the actor's and the
    snapshot's actions on replay observations. The weight follows training progress (0 at the
    first RL step, 1 at ``total_timesteps``).
    """

    loss: Literal["bc", "kl", "mse"] = "kl"
    weight: FloatOrSchedule = 1.0
    batch_size: int = Field(256, ge=1, le=1_000_000, strict=True)

    @field_validator("weight")
    @classmethod
    def _non_negative(cls, w: Any) -> Any:
        values = [w.start, w.end] if isinstance(w, Schedule) else [w]
        if any(v < 0 for v in values):
            raise ValueError("the regulariser weight must be >= 0")
        return w


class PretrainConfig(StrictModel):
    """Behavioural cloning or DAgger from a teacher, critic warm-up and a fine-tuning regulariser."""

    teacher: TeacherSpec | None = None
    method: Literal["bc", "dagger"] = "bc"
    steps: int = Field(20_000, ge=1, le=10**9, strict=True, description="env steps of data")
    rounds: int = Field(1, ge=1, le=1000, strict=True, description="DAgger rounds")
    student_prob: FloatOrSchedule = Field(
        default_factory=lambda: LinearSchedule(start=0.0, end=1.0),
        description="probability that the student acts, per DAgger round")
    epochs: int = Field(20, ge=1, le=100_000, strict=True, description="epochs per round")
    batch_size: int = Field(256, ge=1, le=1_000_000, strict=True)
    learning_rate: float = Field(1.0e-3, gt=0, le=1.0)
    loss: Literal["nll", "mse"] = "nll"
    entropy_weight: float = Field(0.0, ge=0, le=10)
    validation_fraction: float = Field(0.1, ge=0, lt=1)
    patience: int = Field(3, ge=1, le=100_000, strict=True, description="early-stopping epochs")
    stages: list[dict[str, Any]] | None = Field(
        None, min_length=1, description="env parameters per share of the env copies while collecting")
    critic_warmup: CriticWarmup | None = None
    regularizer: Regularizer | None = None
    freeze_normalization: bool = Field(
        False, strict=True,
        description="keep the normalize wrapper's statistics from pretraining fixed while fine-tuning")
    from_run: str | None = Field(None, min_length=1,
                                 description="start from this run's pretrained model")

    @field_validator("student_prob")
    @classmethod
    def _probability(cls, p: Any) -> Any:
        values = [p.start, p.end] if isinstance(p, Schedule) else [p]
        if any(not 0.0 <= v <= 1.0 for v in values):
            raise ValueError("student_prob must stay within [0, 1]")
        return p

    @model_validator(mode="after")
    def _method(self) -> PretrainConfig:
        if self.from_run is None and self.teacher is None:
            raise ValueError("pretrain needs a teacher (or from_run: a run to start from)")
        if self.from_run is not None and self.teacher is not None:
            raise ValueError("give either teacher (clone here) or from_run (reuse a run's "
                             "pretrained model), not both")
        if self.method == "bc" and self.rounds != 1:
            raise ValueError(f"rounds: {self.rounds} needs method: dagger (bc is one round)")
        if self.method == "dagger" and self.rounds < 2:
            raise ValueError("method: dagger needs rounds >= 2 (round 0 is the teacher's)")
        return self

    def student_prob_at(self, round_index: int) -> float:
        """The probability that the student acts in DAgger round ``round_index`` (0 for BC)."""
        if self.method == "bc":
            return 0.0
        progress = round_index / (self.rounds - 1)
        return float(self.student_prob.value_at(progress) if isinstance(self.student_prob, Schedule)
                     else self.student_prob)
