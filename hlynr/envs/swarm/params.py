"""Parameters of ``hlynr/Swarm-v0`` and its curriculum stage presets.

``SwarmParams`` validates constructor kwargs and ``apply_params`` updates alike. ``stage`` names a
preset (:data:`STAGES`) whose values fill every field the caller does not set explicitly.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from hlynr.config.base import StrictModel
from hlynr.registry import suggest

Evasion = Literal["none", "basic", "full"]
EVASION_LEVELS: tuple[str, ...] = ("none", "basic", "full")

STAGES: dict[str, dict[str, Any]] = {
    "basic": {"target_speed": 500.0, "n_agents": 3, "evasion": "none"},
    "intermediate": {"target_speed": 1000.0, "n_agents": 5, "evasion": "basic"},
    "advanced": {"target_speed": 1700.0, "n_agents": 5, "evasion": "full"},
}
"""Named curriculum stages: target speed (m/s), interceptor count, evasion level."""

FIXED_FIELDS: tuple[str, ...] = ("max_agents", "k_neighbours")
"""Fields that size the observation/action spaces; ``apply_params`` refuses to change them."""


class SwarmParams(StrictModel):
    """Swarm interception scenario, sensors, interceptor limits and reward (SI units)."""

    stage: str | None = Field(None, description="preset name filling unset fields: " + ", ".join(STAGES))
    # team and spaces
    max_agents: int = Field(5, ge=1, le=16, description="agent slots; fixes the vector layout")
    n_agents: int = Field(3, ge=1, le=16, description="active interceptors (<= max_agents)")
    k_neighbours: int = Field(3, ge=0, le=15, description="teammate slots per observation")
    # target
    target_speed: float = Field(500.0, gt=0.0, le=5000.0)
    target_max_accel: float = Field(100.0, ge=0.0, le=2000.0, description="lateral limit, m/s^2")
    evasion: Evasion = "none"
    evade_range: float = Field(3000.0, gt=0.0, description="full evasion: jink inside this range")
    spawn_range: tuple[float, float] = (9000.0, 11000.0)
    spawn_sector_deg: float = Field(45.0, ge=0.0, le=180.0, description="half-angle about +x")
    # defended zone and arena
    zone_radius: float = Field(500.0, gt=0.0)
    arena_radius: float = Field(15000.0, gt=0.0, description="interceptors beyond it are lost")
    # interceptors (identical)
    max_speed: float = Field(300.0, gt=0.0)
    min_speed: float = Field(60.0, gt=0.0)
    cruise_speed: float = Field(150.0, gt=0.0, description="initial speed")
    max_lateral_accel: float = Field(50.0, gt=0.0)
    max_turn_rate: float = Field(0.6, gt=0.0, description="rad/s")
    max_thrust_accel: float = Field(20.0, gt=0.0, description="longitudinal limit, m/s^2")
    endurance_s: float = Field(20.0, gt=0.0, description="seconds of fuel at full throttle")
    idle_burn: float = Field(0.25, ge=0.0, le=1.0, description="burn at zero throttle / full")
    collision_radius: float = Field(5.0, ge=0.0)
    start_box: tuple[float, float, float, float] = (1000.0, 3000.0, -2000.0, 2000.0)
    kill_radius: float = Field(50.0, gt=0.0)
    # sensing, comms, tracking
    detect_range: float = Field(2500.0, ge=0.0)
    own_sigma: float = Field(5.0, ge=0.0, description="own sensor noise, m")
    own_sigma_per_m: float = Field(0.002, ge=0.0, description="cross-range noise per metre range")
    comms_range: float = Field(3000.0, ge=0.0)
    radar_cueing: bool = True
    radar_range: float = Field(20000.0, ge=0.0)
    radar_period: float = Field(0.5, gt=0.0)
    radar_sigma: float = Field(20.0, ge=0.0)
    radar_sigma_per_m: float = Field(0.003, ge=0.0)
    filter_accel_std: float | None = Field(None, gt=0.0, description="default: target_max_accel")
    track_timeout: float = Field(2.0, gt=0.0)
    # episode
    dt: float = Field(0.1, gt=0.0, le=1.0)
    max_steps: int = Field(300, ge=1)
    # reward
    intercept_bonus: float = Field(1.0, ge=0.0, le=10.0)
    escape_penalty: float = Field(1.0, ge=0.0, le=10.0)
    approach_weight: float = Field(0.5, ge=0.0, le=1.0, description="potential shaping, |sum| <= w")
    approach_scale: float = Field(2000.0, gt=0.0, description="zero-effort miss where the potential saturates")
    approach_credit: Literal["individual", "team"] = Field(
        "individual", description="individual: each agent's own potential; team: best agent's")
    fuel_weight: float = Field(0.05, ge=0.0, le=1.0, description="total fuel penalty <= w")
    spread_weight: float = Field(0.05, ge=0.0, le=1.0, description="total bunching penalty <= w")
    spread_distance: float = Field(200.0, ge=0.0)
    loss_weight: float = Field(0.1, ge=0.0, le=1.0, description="penalty per lost agent / n_agents")

    @model_validator(mode="before")
    @classmethod
    def _fill_stage(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("stage") is not None:
            name = data["stage"]
            if name not in STAGES:
                raise ValueError(
                    f"unknown stage '{name}'{suggest(str(name), list(STAGES))}; "
                    f"known stages: {', '.join(STAGES)}"
                )
            data = {**STAGES[name], **data}
        return data

    @model_validator(mode="after")
    def _check(self) -> SwarmParams:
        if self.n_agents > self.max_agents:
            raise ValueError(
                f"n_agents={self.n_agents} exceeds max_agents={self.max_agents}; raise max_agents "
                "(it fixes the observation layout) or lower n_agents"
            )
        if self.k_neighbours > max(self.max_agents - 1, 0):
            raise ValueError(
                f"k_neighbours={self.k_neighbours} must be <= max_agents - 1 = {self.max_agents - 1}"
            )
        if self.min_speed >= self.max_speed:
            raise ValueError(f"min_speed={self.min_speed} must be below max_speed={self.max_speed}")
        if not self.min_speed <= self.cruise_speed <= self.max_speed:
            raise ValueError("cruise_speed must lie within [min_speed, max_speed]")
        lo, hi = self.spawn_range
        if not 0.0 < lo <= hi:
            raise ValueError(f"spawn_range must satisfy 0 < min <= max, got {self.spawn_range}")
        if lo <= self.zone_radius:
            raise ValueError("spawn_range must start outside the defended zone (zone_radius)")
        x0, x1, y0, y1 = self.start_box
        if not (x0 <= x1 and y0 <= y1):
            raise ValueError(f"start_box must be (x_min, x_max, y_min, y_max), got {self.start_box}")
        if max(abs(x0), abs(x1), abs(y0), abs(y1)) * 1.5 > self.arena_radius:
            raise ValueError("start_box must lie well inside arena_radius")
        return self

    @property
    def evasion_level(self) -> int:
        """0 = none, 1 = basic, 2 = full."""
        return EVASION_LEVELS.index(self.evasion)

    @property
    def sigma_a(self) -> float:
        """Process-noise acceleration std of the target filter (m/s^2)."""
        if self.filter_accel_std is not None:
            return self.filter_accel_std
        return max(self.target_max_accel, 1.0)

    def updated(self, **changes: Any) -> SwarmParams:
        """A validated copy with ``changes`` applied (a ``stage`` preset first, then the rest).

        Raises ``ValueError`` naming an unknown key, or if a space-sizing field would change.
        """
        known = set(type(self).model_fields)
        for key in changes:
            if key not in known:
                raise ValueError(
                    f"unknown swarm parameter '{key}'{suggest(key, known)}; "
                    f"allowed: {', '.join(sorted(known))}"
                )
        for key in FIXED_FIELDS:
            if key in changes and changes[key] != getattr(self, key):
                raise ValueError(
                    f"'{key}' sizes the observation space and cannot change after construction "
                    f"(is {getattr(self, key)}, asked {changes[key]})"
                )
        data = self.model_dump()
        if changes.get("stage") is not None:
            if changes["stage"] not in STAGES:
                raise ValueError(
                    f"unknown stage '{changes['stage']}'{suggest(str(changes['stage']), list(STAGES))}; "
                    f"known stages: {', '.join(STAGES)}"
                )
            data.update(STAGES[changes["stage"]])
        data.update(changes)
        return type(self).model_validate(data)
