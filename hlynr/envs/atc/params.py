"""Parameters of ``hlynr/ATC-v0`` (aviation units; converted to SI by the engine).

``ATCParams`` validates constructor kwargs and ``apply_params`` updates alike, so a curriculum
can move between scenarios (``apply_params(scenario="t_formation")``) with every value checked.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator

from hlynr.config.base import StrictModel
from hlynr.envs.atc.scenario_files import ScenarioFile, ScenarioFileError, read_scenario
from hlynr.envs.atc.units import KT
from hlynr.registries import suggest

SCENARIO_SIZES: dict[str, int] = {
    "head_on": 2, "parallel": 3, "t_formation": 3, "canonical_crossing": 4, "converging": 4,
}
"""Aircraft in each named preset (``random`` uses ``n_aircraft``)."""
SCENARIO_NAMES: tuple[str, ...] = (*SCENARIO_SIZES, "random")
FILE_PREFIX = "file:"
"""``scenario: file:PATH`` flies the traffic of a scenario file (:mod:`hlynr.envs.atc.scenario_files`)."""

FIXED_FIELDS: tuple[str, ...] = ("max_aircraft", "k_intruders")
"""Fields that size the spaces; ``apply_params`` refuses to change them."""


class ATCParams(StrictModel):
    """Scenario, aircraft performance, separation standard, episode and reward of ``hlynr/ATC-v0``."""

    # traffic
    scenario: str = Field("canonical_crossing",
                          description="named preset, 'random', or file:PATH (a BlueSky .scn or a .json file)")
    max_aircraft: int = Field(4, ge=2, le=64, description="aircraft slots; fixes the agent list")
    n_aircraft: int = Field(4, ge=2, le=64, description="aircraft in 'random' traffic")
    k_intruders: int = Field(3, ge=1, le=63, description="intruder slots per observation")
    density: float = Field(
        2.0, gt=0.0, le=50.0, description="'random': aircraft per 1000 NM^2 of the circular sector")
    leg_nm: float = Field(40.0, ge=10.0, le=200.0, description="named presets: start-to-centre distance")
    jitter_nm: float = Field(2.0, ge=0.0, le=10.0, description="uniform +- jitter of start and exit points")
    speed_jitter_kt: float = Field(10.0, ge=0.0, le=100.0, description="uniform +- jitter of initial speed")
    rotate: bool = Field(True, description="rotate each episode's traffic by a random angle")
    altitude_layers: int = Field(1, ge=1, le=10, description="flight levels drawn per aircraft")
    layer_spacing_ft: float = Field(1000.0, gt=0.0, le=10000.0)
    # aircraft performance
    cruise_speed_kt: float = Field(250.0, gt=0.0, le=600.0, description="initial and preferred airspeed")
    min_speed_kt: float = Field(200.0, gt=0.0, le=600.0)
    max_speed_kt: float = Field(300.0, gt=0.0, le=600.0)
    max_turn_rate_deg_s: float = Field(3.0, gt=0.0, le=10.0, description="3 deg/s: a standard-rate turn")
    max_accel_kt_s: float = Field(1.0, gt=0.0, le=10.0, description="airspeed rate limit")
    heading_tau_s: float = Field(2.0, gt=0.0, le=60.0, description="first-order heading time constant")
    speed_tau_s: float = Field(5.0, gt=0.0, le=120.0, description="first-order airspeed time constant")
    max_heading_change_deg: float = Field(45.0, gt=0.0, le=180.0, description="action 1.0 in heading")
    max_speed_change_kt: float = Field(30.0, gt=0.0, le=300.0, description="action 1.0 in speed")
    # separation standard
    pz_radius_nm: float = Field(5.0, gt=0.0, le=50.0, description="protected-zone radius")
    pz_height_ft: float = Field(1000.0, gt=0.0, le=10000.0, description="protected-zone half height")
    lookahead_s: float = Field(300.0, gt=0.0, le=3600.0, description="conflict-detection look-ahead")
    exit_radius_nm: float = Field(2.0, gt=0.0, le=20.0, description="an exit counts as reached inside it")
    # episode
    dt_s: float = Field(10.0, gt=0.0, le=60.0, description="seconds per step")
    max_steps: int = Field(200, ge=1, le=100_000)
    # reward (see docs/atc.md)
    progress_per_km: float = Field(0.04, ge=0.0, le=1.0, description="signed progress to the exit")
    los_entry_penalty: float = Field(25.0, ge=0.0, le=1000.0, description="per loss-of-separation entry")
    los_depth_penalty: float = Field(1.0, ge=0.0, le=100.0, description="per step inside, times depth")
    drift_per_deg: float = Field(0.01, ge=0.0, le=1.0, description="per degree of drift reduced")
    team_weight: float = Field(0.6, ge=0.0, le=10.0, description="team potential; 0 switches it off")
    team_sensitivity_nm: float = Field(5.0, gt=0.0, le=50.0, description="team potential range beyond the PZ")
    detour_per_km: float = Field(
        0.0, ge=0.0, le=10.0, description="per km flown beyond the progress made; 0 switches it off")

    @field_validator("scenario")
    @classmethod
    def _scenario(cls, value: str) -> str:
        if value in SCENARIO_NAMES:
            return value
        if value.startswith(FILE_PREFIX):
            path = Path(value[len(FILE_PREFIX):]).expanduser()
            if not str(path).strip():
                raise ValueError("file: needs a path, e.g. file:scenarios/crossing.scn")
            try:
                read_scenario(path)  # every error of the file now, with its line
            except ScenarioFileError as exc:
                raise ValueError(str(exc)) from None
            return FILE_PREFIX + str(path.resolve())  # the run's config.yaml works from anywhere
        raise ValueError(f"unknown scenario '{value}'{suggest(value, SCENARIO_NAMES)}; give one of "
                         f"{', '.join(SCENARIO_NAMES)}, or file:PATH (a BlueSky .scn or a .json file)")

    @model_validator(mode="after")
    def _check(self) -> ATCParams:
        if not self.min_speed_kt <= self.cruise_speed_kt <= self.max_speed_kt:
            raise ValueError("cruise_speed_kt must lie within [min_speed_kt, max_speed_kt]")
        if self.min_speed_kt >= self.max_speed_kt:
            raise ValueError("min_speed_kt must be below max_speed_kt")
        traffic = self.scenario_file
        if traffic is not None:
            tas = traffic.speeds() / KT
            slow = [(a.acid, v) for a, v in zip(traffic.aircraft, tas)
                    if not self.min_speed_kt - 1e-6 <= v <= self.max_speed_kt + 1e-6]
            if slow:
                acid, v = slow[0]
                raise ValueError(f"{self.scenario[len(FILE_PREFIX):]}: aircraft '{acid}' flies at {v:.1f} kt true "
                                 f"airspeed, outside [min_speed_kt, max_speed_kt] = [{self.min_speed_kt:g}, "
                                 f"{self.max_speed_kt:g}]")
        n = self.aircraft_count
        if n > self.max_aircraft:
            what = "n_aircraft" if self.scenario == "random" else f"scenario '{self.scenario}'"
            raise ValueError(f"{what} needs {n} aircraft but max_aircraft={self.max_aircraft}; "
                             "raise max_aircraft (it fixes the agent list)")
        return self

    @property
    def scenario_file(self) -> ScenarioFile | None:
        """The traffic of a ``file:`` scenario (read once, then cached), else None."""
        if not self.scenario.startswith(FILE_PREFIX):
            return None
        return read_scenario(self.scenario[len(FILE_PREFIX):])

    @property
    def aircraft_count(self) -> int:
        """Aircraft flying in this scenario."""
        if self.scenario == "random":
            return self.n_aircraft
        traffic = self.scenario_file
        return len(traffic.aircraft) if traffic is not None else SCENARIO_SIZES[self.scenario]

    def updated(self, **changes: Any) -> ATCParams:
        """A validated copy with ``changes``; unknown keys and space-sizing changes raise ValueError."""
        known = set(type(self).model_fields)
        for key in changes:
            if key not in known:
                raise ValueError(f"unknown ATC parameter '{key}'{suggest(key, known)}; "
                                 f"allowed: {', '.join(sorted(known))}")
        for key in FIXED_FIELDS:
            if key in changes and changes[key] != getattr(self, key):
                raise ValueError(f"'{key}' sizes the spaces and cannot change after construction "
                                 f"(is {getattr(self, key)}, asked {changes[key]})")
        return type(self).model_validate({**self.model_dump(), **changes})
