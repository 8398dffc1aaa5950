"""Parameter models and named scenario presets of the Intercept environment (SI units).

* :class:`ScenarioParams`: every physical parameter of an engagement (interceptor, threat,
  geometry, radar, kill radius, time limit). Field constraints give clear errors.
* :data:`SCENARIOS`: named presets, each a set of overrides of the ``ScenarioParams`` defaults.
* :class:`RewardParams`: bounded reward weights.
* :class:`SensorParams`: how the interceptor sees the threat (radar + Kalman filter, or the truth).
* :class:`InterceptParams`: what a config's ``env.kwargs`` may contain: ``scenario`` (a preset
  name), any ``ScenarioParams`` field as a flat override, ``reward`` and ``sensor``. It is the
  model registered in ``ENV_PARAMS["hlynr/Intercept-v0"]``.
"""

from __future__ import annotations

from enum import IntEnum
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, ValidationError, create_model, model_validator

from hlynr.config.base import StrictModel
from hlynr.registries import suggest

G0 = 9.80665
"""Standard gravity (m/s^2), used for g-limits and specific impulse."""

class Maneuver(IntEnum):
    """Threat manoeuvre models and their codes in the engine; ``MIXED`` draws WEAVE, STEP or
    RANDOM uniformly per episode (those three codes are consecutive)."""

    NONE = 0
    WEAVE = 1
    STEP = 2
    RANDOM = 3
    MIXED = 4


MANEUVERS: tuple[str, ...] = tuple(m.name.lower() for m in Maneuver)
"""Names of the threat manoeuvre models (``target_maneuver`` values), in code order."""


class ScenarioParams(StrictModel):
    """All physical parameters of one engagement; defaults are the ``standard`` scenario."""

    # --- timing (structural: cannot change through apply_params) ---
    control_rate: float = Field(20.0, ge=5.0, le=100.0, description="policy decisions per s (Hz)")
    substeps: int = Field(2, ge=1, le=20, description="physics sub-steps per control step")
    max_time: float = Field(25.0, gt=0, le=300, description="episode time limit (s), a truncation")
    # --- interceptor ---
    accel_limit_g: float = Field(25.0, gt=0, le=100, description="lateral acceleration limit (g)")
    autopilot_tau: float = Field(0.1, gt=0, le=5, description="first-order autopilot lag (s)")
    dry_mass: float = Field(60.0, gt=0, description="interceptor mass without fuel (kg)")
    fuel_mass: float = Field(40.0, gt=0, description="initial fuel (kg)")
    isp: float = Field(280.0, gt=0, description="specific impulse (s) of motor and divert system")
    thrust: float = Field(1500.0, ge=0, description="sustainer thrust along velocity (N)")
    cd_area: float = Field(0.004, ge=0, description="drag coefficient x reference area (m^2)")
    interceptor_speed: float = Field(800.0, gt=0, le=5000, description="initial speed (m/s)")
    launch_altitude: float = Field(100.0, gt=0, description="initial interceptor altitude (m)")
    battery_offset_max: float = Field(4000.0, ge=0, description="launcher offset from defended point (m)")
    battery_sector_deg: float = Field(
        180.0, ge=0, le=180, description="launcher azimuth relative to the threat's, +- this (deg)"
    )
    heading_error_deg: float = Field(
        20.0, ge=0, le=60, description="max launch heading error off the target cue (deg)"
    )
    # --- threat ---
    target_speed_min: float = Field(400.0, gt=0, le=5000, description="m/s")
    target_speed_max: float = Field(550.0, gt=0, le=5000, description="m/s")
    target_range_min: float = Field(7000.0, gt=0, description="initial ground range to defended point (m)")
    target_range_max: float = Field(10000.0, gt=0, description="m")
    target_altitude_min: float = Field(1000.0, gt=0, description="m")
    target_altitude_max: float = Field(4000.0, gt=0, description="m")
    target_maneuver: Literal["none", "weave", "step", "random", "mixed"] = "weave"
    target_accel_g: float = Field(3.0, ge=0, le=100, description="threat manoeuvre acceleration (g)")
    weave_period_min: float = Field(2.0, gt=0, description="weave period range (s)")
    weave_period_max: float = Field(5.0, gt=0, description="s")
    step_time_min: float = Field(1.0, ge=0, description="step (jink) start time range (s)")
    step_time_max: float = Field(6.0, ge=0, description="s")
    switch_dwell: float = Field(1.5, gt=0, description="mean dwell between random switches (s)")
    # --- radar (seeker on the interceptor) ---
    radar_max_range: float = Field(20000.0, gt=0, description="m")
    radar_fov_deg: float = Field(60.0, gt=0, le=180, description="half-angle field of view (deg)")
    radar_pd_max: float = Field(0.95, gt=0, le=1, description="detection probability at zero range")
    radar_pd_exponent: float = Field(4.0, gt=0, description="Pd = pd_max (1 - (R/Rmax)^k)")
    radar_range_noise: float = Field(5.0, ge=0, description="1-sigma range noise (m)")
    radar_angle_noise: float = Field(0.002, ge=0, description="1-sigma angle noise (rad)")
    radar_rate: float = Field(20.0, gt=0, description="radar update rate (Hz); divides control_rate")
    radar_delay: float = Field(0.0, ge=0, le=1.0, description="measurement delay (s), whole steps")
    cue_velocity_noise: float = Field(50.0, ge=0, description="launch cue velocity error (m/s, 1-sigma)")
    # --- success ---
    kill_radius: float = Field(10.0, gt=0, description="intercept when closest approach < this (m)")
    target_reached_altitude: float = Field(0.0, ge=0, description="threat arrives below this altitude (m)")

    @model_validator(mode="after")
    def _check_consistency(self) -> ScenarioParams:
        pairs = [
            ("target_speed_min", "target_speed_max"), ("target_range_min", "target_range_max"),
            ("target_altitude_min", "target_altitude_max"), ("weave_period_min", "weave_period_max"),
            ("step_time_min", "step_time_max"),
        ]
        for lo, hi in pairs:
            if getattr(self, lo) > getattr(self, hi):
                raise ValueError(f"{lo}={getattr(self, lo)} must not exceed {hi}={getattr(self, hi)}")
        ratio = self.control_rate / self.radar_rate
        if abs(ratio - round(ratio)) > 1e-9 or round(ratio) < 1:
            raise ValueError(
                f"radar_rate={self.radar_rate} Hz must divide control_rate={self.control_rate} Hz "
                "into a whole number of control steps"
            )
        delay_steps = self.radar_delay * self.control_rate
        if abs(delay_steps - round(delay_steps)) > 1e-9:
            raise ValueError(
                f"radar_delay={self.radar_delay} s must be a whole number of control steps "
                f"(1/{self.control_rate} s)"
            )
        return self

    @property
    def dt(self) -> float:
        """Control step (s)."""
        return 1.0 / self.control_rate

    @property
    def accel_limit(self) -> float:
        """Lateral acceleration limit (m/s^2)."""
        return self.accel_limit_g * G0


STRUCTURAL: frozenset[str] = frozenset({"control_rate", "substeps", "radar_delay", "sensor"})
"""Parameters fixed for the life of an env (array shapes / step size / the tracker depend on them)."""

SCENARIOS: dict[str, dict[str, Any]] = {
    "easy": dict(
        target_maneuver="none", target_accel_g=0.0, target_speed_min=250.0,
        target_speed_max=350.0, heading_error_deg=10.0, kill_radius=10.0,
    ),
    "standard": {},
    "manoeuvring": dict(target_maneuver="mixed", target_accel_g=12.5, kill_radius=5.0),
    "sensor": dict(
        radar_range_noise=30.0, radar_angle_noise=0.01, radar_rate=5.0, radar_pd_max=0.8,
        radar_max_range=15000.0,
    ),
    "lag": dict(autopilot_tau=0.6),
    "fast": dict(
        target_maneuver="none", target_accel_g=0.0, target_speed_min=1200.0,
        target_speed_max=1500.0, target_range_min=14000.0, target_range_max=18000.0,
        battery_offset_max=1000.0, battery_sector_deg=20.0, heading_error_deg=5.0,
        radar_max_range=30000.0,
    ),
}
"""Named presets: overrides of the :class:`ScenarioParams` defaults (``standard`` = defaults)."""


def scenario_params(name: str, **overrides: Any) -> ScenarioParams:
    """Build the parameters of preset ``name`` with ``overrides``; unknown names fail clearly."""
    if name not in SCENARIOS:
        raise ValueError(
            f"unknown Intercept scenario '{name}'{suggest(name, list(SCENARIOS))}; "
            f"known: {', '.join(SCENARIOS)}"
        )
    return ScenarioParams(**{**SCENARIOS[name], **overrides})


class RewardParams(StrictModel):
    """Reward weights. Every term is bounded: total |return| <= success + miss + shaping + control*T.

    * ``success``: terminal bonus on intercept;
    * ``miss``: terminal penalty ``miss * min(miss_distance / miss_scale, 1)`` on every other end
      (passed, ground impact, fuel exhausted, threat arrived, time limit);
    * ``shaping``: potential-based term ``Phi(s') - Phi(s)``, ``Phi = -shaping * min(ZEM / zem_scale, 1)``
      with the true zero-effort miss (gravity included); it sums to at most ``shaping`` per episode;
    * ``control``: ``-control * |u|^2 * dt`` per step (``u``: normalised command).
    """

    success: float = Field(default=10.0, ge=0, le=100)
    miss: float = Field(default=5.0, ge=0, le=100)
    miss_scale: float = Field(default=100.0, gt=0, description="m")
    shaping: float = Field(default=2.0, ge=0, le=100)
    zem_scale: float = Field(default=1000.0, gt=0, description="m")
    control: float = Field(default=0.02, ge=0, le=10)


class IMMModelParams(StrictModel):
    """One model of an IMM track: ``kind`` (``cv`` or ``ca``), its process noise ``noise``
    (m/s^2: CV acceleration 1-sigma, CA per-step acceleration change 1-sigma; unset: the
    sensor's ``process_noise``, or the CA default) and ``sojourn``, the mean time it stays the
    active mode (s)."""

    kind: Literal["cv", "ca"]
    noise: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    sojourn: float = Field(default=2.0, gt=0, le=1000)


class IMMParams(StrictModel):
    """``sensor.imm``: the models of an interacting-multiple-model track (``filter: imm``).
    Default: a quiet CV model (3 m/s^2) and a manoeuvre CA model (the ``process_noise``), each
    with a mean sojourn of 2 s."""

    models: tuple[IMMModelParams, ...] = Field(
        default=(IMMModelParams(kind="cv", noise=3.0), IMMModelParams(kind="ca")), min_length=2, max_length=4)


class SensorParams(StrictModel):
    """``env.kwargs.sensor``: what the observation is built from.

    * ``mode: radar`` (default): the seeker radar of the scenario (range, field of view,
      range-dependent detection probability, range/angle noise, update rate, delay) feeding a
      Kalman filter that predicts every step and updates on each detection; the observation and
      the action frame come from the estimate only. ``mode: truth``: the true threat state in
      the same layout (an upper bound, for debugging and the ``truth_pn`` baseline).
    * ``filter``: ``cv`` (constant velocity), ``ca`` (constant acceleration: also estimates the
      threat's acceleration, which augmented PN uses) or ``imm`` (interacting multiple models,
      ``imm``: by default a CV and a CA model; the estimate is their mixture).
    * ``process_noise`` (m/s^2): CV acceleration 1-sigma, or CA per-step acceleration change
      1-sigma; default 0.75 x (CV, at least 3) / 0.3 x (CA, at least 1) the threat's manoeuvre
      level. With ``imm``: the noise of the models that set none (default as CA).
    * ``imm``: the IMM's models (:class:`IMMParams`); only with ``filter: imm``.
    """

    mode: Literal["radar", "truth"] = "radar"
    filter: Literal["cv", "ca", "imm"] = "cv"
    process_noise: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    imm: IMMParams | None = None

    @model_validator(mode="after")
    def _imm_only_with_imm(self) -> SensorParams:
        if self.imm is not None and self.filter != "imm":
            raise ValueError(f"sensor.imm applies to filter: imm only (this sensor has filter: {self.filter})")
        return self

    def imm_models(self) -> tuple[tuple[str, float | None, float], ...]:
        """``(kind, noise, sojourn)`` of each IMM model (``imm`` or its defaults)."""
        return tuple((m.kind, m.noise, m.sojourn) for m in (self.imm or IMMParams()).models)


def _fmt_validation_error(err: ValidationError) -> str:
    parts = []
    for e in err.errors():
        loc = ".".join(str(x) for x in e["loc"])
        parts.append(f"{loc}: {e['msg']}" if loc else e["msg"])
    return "; ".join(parts)


class _InterceptParamsBase(StrictModel):
    """Base with the resolution logic; the concrete model adds one optional field per parameter."""

    if TYPE_CHECKING:  # fields of the model _build_params_model creates (the overrides: Any)
        scenario: str
        reward: RewardParams
        sensor: SensorParams

    @model_validator(mode="after")
    def _validate_scenario(self) -> _InterceptParamsBase:
        self.resolve()
        return self

    def overrides(self) -> dict[str, Any]:
        """The scenario fields set explicitly (not ``None``)."""
        return {
            k: getattr(self, k) for k in ScenarioParams.model_fields if getattr(self, k) is not None
        }

    def resolve(self) -> ScenarioParams:
        """The preset named by ``scenario`` with the overrides applied (raises ValueError)."""
        try:
            return scenario_params(self.scenario, **self.overrides())
        except ValidationError as err:
            raise ValueError(
                f"invalid Intercept parameters for scenario '{self.scenario}': "
                f"{_fmt_validation_error(err)}"
            ) from None


def _build_params_model() -> type[_InterceptParamsBase]:
    fields: dict[str, Any] = {
        "scenario": (str, Field("standard", description=f"one of: {', '.join(SCENARIOS)}")),
        "reward": (RewardParams, Field(default_factory=RewardParams)),
        "sensor": (SensorParams, Field(default_factory=SensorParams)),
    }
    for name, info in ScenarioParams.model_fields.items():
        assert info.annotation is not None  # every ScenarioParams field is annotated
        fields[name] = (info.annotation | None, Field(None, description=info.description))
    return create_model(
        "InterceptParams", __base__=_InterceptParamsBase,
        __doc__="``env.kwargs`` of hlynr/Intercept-v0: a scenario preset, flat overrides, rewards, sensor.",
        **fields,
    )


InterceptParams = _build_params_model()
"""``env.kwargs`` model, e.g. ``{scenario: standard, kill_radius: 5.0, reward: {success: 10},
sensor: {filter: ca}}``."""
