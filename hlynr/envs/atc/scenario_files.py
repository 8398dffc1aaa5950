"""Scenario files for ``hlynr/ATC-v0``: BlueSky ``.scn`` and JSON, read and written.

``env.kwargs.scenario: file:PATH`` flies the aircraft of a file (docs/atc.md, "Scenario files").
Both formats give, per aircraft, a callsign, an aircraft type, a start position (lat, lon), a
heading, an altitude, a calibrated airspeed and one route point, the exit; and the reference
point of the projection (:mod:`hlynr.envs.atc.geo`), the sector centre.

**BlueSky .scn** (one command a line, ``HH:MM:SS.hh>COMMAND args``, arguments separated by commas
or spaces; ``#`` starts a comment line)::

    00:00:00.00>PAN 52.0,4.0                               # reference point (sector centre)
    00:00:00.00>CRE KL204,B738,52.6,4.0,180,FL100,250      # acid,type,lat,lon,hdg,alt,CAS
    00:00:00.00>ADDWPT KL204,51.4,4.0                      # its exit (or: DEST KL204,51.4,4.0)

Read: ``CRE`` (altitude in feet or ``FLnnn``, speed CAS in knots), ``DEST acid,lat,lon`` or
``ADDWPT acid,lat,lon`` (one route point per aircraft: hlynr flies each aircraft straight to one
exit), ``PAN lat,lon`` (the reference point; without it, the centre of the box around every
start and exit) and ``ZOOM`` (display only, ignored). Every command is at ``00:00:00.00``: the
engine starts all its traffic at once. Anything else (another command, a Mach speed, a
waypoint or airport by name, a time after 0) is rejected with the file and line.

**JSON** (the layout of scenario files of BlueSky-based MARL projects)::

    {"scenario_name": "head_on", "seed": 0, "notes": "...", "sim_dt_s": 1.0,
     "center": {"lat": 52.0, "lon": 4.0, "alt_ft": 10000},
     "agents": [{"id": "A1", "type": "B738", "lat": 52.6, "lon": 4.0, "hdg_deg": 180,
                 "spd_kt": 250, "alt_ft": 10000, "waypoint": {"lat": 51.4, "lon": 4.0}}]}

``center`` is the reference point (its ``alt_ft`` is the altitude of agents without one);
``scenario_name``, ``seed``, ``notes`` and ``sim_dt_s`` are kept as notes only. Unknown fields are
rejected with the file and line.

In both, the start heading is read and checked but the engine starts every aircraft heading
straight at its exit, as in the named presets. :func:`write_scn` and :func:`write_json` write
an episode's initial traffic (``hlynr scenario export``); reading it back gives the same
traffic to floating-point precision.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field, ValidationError

from hlynr.config.base import StrictModel
from hlynr.config.loader import ConfigError, error_message, parse_yaml, specific_errors
from hlynr.envs.atc.geo import Projection, cas_to_tas, tas_to_cas
from hlynr.envs.atc.units import FT, KT

SUFFIXES = (".scn", ".json")
DEFAULT_TYPE = "B738"


class ScenarioFileError(ValueError):
    """A scenario file that cannot be read; ``str()`` names the file (and line)."""


@dataclass(frozen=True)
class FileAircraft:
    """One aircraft of a scenario file, in the file's units."""

    acid: str
    actype: str
    lat: float
    lon: float
    hdg_deg: float
    alt_ft: float
    cas_kt: float
    exit_lat: float
    exit_lon: float


@dataclass(frozen=True)
class ScenarioFile:
    """The aircraft of a scenario file and the reference point of its projection."""

    aircraft: tuple[FileAircraft, ...]
    lat0: float
    lon0: float
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def projection(self) -> Projection:
        return Projection(self.lat0, self.lon0)

    def points(self) -> np.ndarray:
        """``(N, 4)`` start ``(east, north)`` and exit ``(east, north)``, metres."""
        a = self.aircraft
        proj = self.projection
        se, sn = proj.to_xy(np.array([x.lat for x in a]), np.array([x.lon for x in a]))
        ee, en = proj.to_xy(np.array([x.exit_lat for x in a]), np.array([x.exit_lon for x in a]))
        return np.stack([se, sn, ee, en], axis=1)

    def altitudes(self) -> np.ndarray:
        """``(N,)`` altitudes, metres."""
        return np.array([x.alt_ft for x in self.aircraft]) * FT

    def speeds(self) -> np.ndarray:
        """``(N,)`` true airspeeds (ISA, no wind: ground speeds), m/s."""
        cas = np.array([x.cas_kt for x in self.aircraft]) * KT
        return cas_to_tas(cas, self.altitudes())


# --- reading ------------------------------------------------------------------------------------

_TIME = re.compile(r"^\s*(\d+):(\d{1,2}):(\d{1,2}(?:\.\d*)?)\s*>\s*(.*)$")
_SPLIT = re.compile(r"\s*,\s*|\s+")
_IGNORED = ("ZOOM",)
_COMMANDS = ("CRE", "DEST", "ADDWPT", "PAN", *_IGNORED)


def _number(text: str, what: str, low: float, high: float) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{what} must be a number, got '{text}'") from None
    if not (math.isfinite(value) and low <= value <= high):
        raise ValueError(f"{what} must lie in [{low:g}, {high:g}], got {text}")
    return value


def _altitude(text: str) -> float:
    up = text.upper()
    if up.startswith("FL"):
        return 100.0 * _number(up[2:], "flight level", 0, 990)
    return _number(text, "altitude (ft or FLnnn)", -2000, 99000)


def _speed(text: str) -> float:
    if text.upper().startswith("M") or (_is_float(text) and 0 < float(text) < 1):
        raise ValueError(f"Mach speeds are not read ('{text}'): give the calibrated airspeed in knots")
    return _number(text, "speed (CAS, kt)", 1, 1000)


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _latlon(lat: str, lon: str) -> tuple[float, float]:
    if not (_is_float(lat) and _is_float(lon)):
        raise ValueError(f"'{lat},{lon}' is not a position: give latitude and longitude in decimal degrees "
                         "(waypoint, airport and navaid names are not read)")
    return _number(lat, "latitude", -90, 90), _number(lon, "longitude", -180, 360)


def _args(args: list[str], command: str, n: int, usage: str) -> list[str]:
    if len(args) != n:
        raise ValueError(f"{command} takes {n} arguments ({usage}), got {len(args)}: {' '.join(args) or '(none)'}")
    return args


def parse_scn(text: str, source: str) -> ScenarioFile:
    """Read a BlueSky ``.scn`` text; errors raise :class:`ScenarioFileError` with ``source:line``."""
    created: dict[str, dict[str, Any]] = {}
    pan: tuple[float, float] | None = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            m = _TIME.match(line)
            if m is None:
                raise ValueError("expected 'HH:MM:SS.hh>COMMAND arguments'")
            t = int(m[1]) * 3600 + int(m[2]) * 60 + float(m[3])
            body = m[4].strip()
            command, _, rest = body.partition(" ")
            if "," in command:
                command, _, more = command.partition(",")
                rest = more + " " + rest
            command = command.upper()
            args = [a for a in _SPLIT.split(rest.strip()) if a] if rest.strip() else []
            if command not in _COMMANDS:
                raise ValueError(f"unknown command '{command}': hlynr reads {', '.join(_COMMANDS)} "
                                 "(see docs/atc.md, Scenario files)")
            if t != 0.0:
                raise ValueError(f"{command} at {m[1]}:{m[2]}:{m[3]}: every command must be at 00:00:00.00 "
                                 "(the engine starts all its traffic at once)")
            if command in _IGNORED:
                continue
            if command == "PAN":
                if pan is not None:
                    raise ValueError("a second PAN: the reference point is given once")
                pan = _latlon(*_args(args, "PAN", 2, "lat,lon"))
            elif command == "CRE":
                acid, actype, lat, lon, hdg, alt, spd = _args(args, "CRE", 7, "acid,type,lat,lon,hdg,alt,spd")
                key = acid.upper()
                if key in created:
                    raise ValueError(f"aircraft '{acid}' is created twice (first on line {created[key]['line']})")
                la, lo = _latlon(lat, lon)
                created[key] = {"acid": acid, "actype": actype, "lat": la, "lon": lo,
                                "hdg_deg": _number(hdg, "heading", -360, 360),
                                "alt_ft": _altitude(alt), "cas_kt": _speed(spd), "line": number}
            else:  # DEST, ADDWPT
                if not args:
                    raise ValueError(f"{command} takes acid,lat,lon")
                acid = args[0]
                if acid.upper() not in created:
                    raise ValueError(f"{command} for aircraft '{acid}', which no CRE before it created")
                if command == "ADDWPT" and len(args) > 3:
                    raise ValueError("ADDWPT with altitude or speed constraints is not read: give acid,lat,lon")
                _, lat, lon = _args(args, command, 3, "acid,lat,lon")
                ac = created[acid.upper()]
                if "exit" in ac:
                    raise ValueError(f"aircraft '{acid}' already has its exit (line {ac['exit_line']}): hlynr "
                                     "flies each aircraft straight to one exit, so give one DEST or ADDWPT")
                ac["exit"], ac["exit_line"] = _latlon(lat, lon), number
        except ValueError as exc:
            raise ScenarioFileError(f"{source}:{number}: {exc}") from None
    return _assemble(created, pan, source, {})


class _Point(StrictModel):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=360)


class _Center(_Point):
    alt_ft: float | None = Field(None, ge=-2000, le=99000)


class _Agent(StrictModel):
    id: str = Field(min_length=1)
    type: str = Field(DEFAULT_TYPE, min_length=1)
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=360)
    hdg_deg: float = Field(0.0, ge=-360, le=360)
    spd_kt: float = Field(gt=0, le=1000, description="calibrated airspeed")
    alt_ft: float | None = Field(None, ge=-2000, le=99000)
    waypoint: _Point


class _JsonScenario(StrictModel):
    scenario_name: str | None = None
    seed: int | None = None
    notes: str | None = None
    sim_dt_s: float | None = Field(None, gt=0)
    center: _Center | None = None
    agents: list[_Agent] = Field(min_length=1)


def parse_json(text: str, source: str) -> ScenarioFile:
    """Read a JSON scenario text; errors raise :class:`ScenarioFileError` with ``source:line``."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ScenarioFileError(f"{source}:{exc.lineno}: malformed JSON: {exc.msg}") from None
    try:
        _, lines = parse_yaml(text, source)  # JSON is YAML: the line of every key
    except ConfigError:
        lines = {}
    try:
        scenario = _JsonScenario.model_validate(data)
    except ValidationError as exc:
        loc, error = specific_errors(exc, data)[0]
        line = next((lines[loc[:k]] for k in range(len(loc), 0, -1) if loc[:k] in lines), 1)
        where = ".".join(str(p) for p in loc) or "(top level)"
        raise ScenarioFileError(f"{source}:{line}: {where}: {error_message(error)}") from None
    created: dict[str, dict[str, Any]] = {}
    default_alt = scenario.center.alt_ft if scenario.center is not None else None
    for i, agent in enumerate(scenario.agents):
        line = lines.get(("agents", i), 1)
        if agent.id.upper() in created:
            raise ScenarioFileError(f"{source}:{line}: agents.{i}.id: '{agent.id}' is used twice")
        alt = agent.alt_ft if agent.alt_ft is not None else default_alt
        if alt is None:
            raise ScenarioFileError(f"{source}:{line}: agents.{i}.alt_ft: required key is missing "
                                    "(or give center.alt_ft)")
        created[agent.id.upper()] = {
            "acid": agent.id, "actype": agent.type, "lat": agent.lat, "lon": agent.lon,
            "hdg_deg": agent.hdg_deg, "alt_ft": alt, "cas_kt": agent.spd_kt, "line": line,
            "exit": (agent.waypoint.lat, agent.waypoint.lon)}
    pan = (scenario.center.lat, scenario.center.lon) if scenario.center is not None else None
    notes = scenario.model_dump(include={"scenario_name", "seed", "notes", "sim_dt_s"}, exclude_none=True)
    return _assemble(created, pan, source, notes)


def _assemble(created: dict[str, dict[str, Any]], pan: tuple[float, float] | None, source: str,
              notes: dict[str, Any]) -> ScenarioFile:
    if not created:
        raise ScenarioFileError(f"{source}: no aircraft (CRE) in the file")
    for ac in created.values():
        if "exit" not in ac:
            raise ScenarioFileError(f"{source}:{ac['line']}: aircraft '{ac['acid']}' has no exit: "
                                    "add 'DEST acid,lat,lon' or 'ADDWPT acid,lat,lon'")
    aircraft = tuple(FileAircraft(ac["acid"], ac["actype"], ac["lat"], ac["lon"], ac["hdg_deg"], ac["alt_ft"],
                                  ac["cas_kt"], ac["exit"][0], ac["exit"][1]) for ac in created.values())
    if pan is None:
        lats = [a.lat for a in aircraft] + [a.exit_lat for a in aircraft]
        lons = [a.lon for a in aircraft] + [a.exit_lon for a in aircraft]
        pan = ((min(lats) + max(lats)) / 2, (min(lons) + max(lons)) / 2)
    return ScenarioFile(aircraft, pan[0], pan[1], notes)


def read_scenario(path: str | Path) -> ScenarioFile:
    """Read ``path`` (``.scn`` or ``.json``, by suffix); :class:`ScenarioFileError` if it cannot."""
    path = Path(path)
    if path.suffix.lower() not in SUFFIXES:
        raise ScenarioFileError(f"{path}: a scenario file is .scn (BlueSky) or .json, not '{path.suffix}'")
    try:
        stat = path.stat()
    except OSError as exc:
        raise ScenarioFileError(f"{path}: cannot read the scenario file ({exc.strerror or exc})") from None
    return _read_cached(str(path.resolve()), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=32)
def _read_cached(path: str, mtime_ns: int, size: int) -> ScenarioFile:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioFileError(f"{path}: cannot read the scenario file ({exc})") from None
    return parse_json(text, path) if path.lower().endswith(".json") else parse_scn(text, path)


# --- writing ------------------------------------------------------------------------------------

def from_traffic(start: np.ndarray, exit_: np.ndarray, speed: np.ndarray, alt: np.ndarray,
                 projection: Projection, heading: np.ndarray | None = None,
                 names: list[str] | None = None, types: list[str] | None = None,
                 notes: dict[str, Any] | None = None) -> ScenarioFile:
    """The scenario file of one episode's initial traffic (SI arrays of the flying aircraft:
    ``start`` and ``exit_`` ``(N, 2)`` m, ``speed`` TAS m/s, ``alt`` m, ``heading`` rad; callsigns
    default to ``AC0``, ``AC1``, ..., aircraft types to :data:`DEFAULT_TYPE`)."""
    n = len(start)
    lat, lon = projection.to_latlon(start[:, 0], start[:, 1])
    elat, elon = projection.to_latlon(exit_[:, 0], exit_[:, 1])
    cas = tas_to_cas(speed, alt) / KT
    hdg = np.degrees(heading) % 360.0 if heading is not None else np.zeros(n)
    names = names or [f"AC{i}" for i in range(n)]
    types = types or [DEFAULT_TYPE] * n
    aircraft = tuple(FileAircraft(names[i], types[i], float(lat[i]), float(lon[i]), float(hdg[i]),
                                  float(alt[i] / FT), float(cas[i]), float(elat[i]), float(elon[i]))
                     for i in range(n))
    return ScenarioFile(aircraft, projection.lat0, projection.lon0, dict(notes or {}))


def _g(x: float) -> str:
    return repr(float(x))  # shortest text that reads back as the same float


def scn_text(scenario: ScenarioFile) -> str:
    """The ``.scn`` text of ``scenario`` (exact float text: it reads back to the same numbers)."""
    head = [f"# {k}: {v}" for k, v in scenario.notes.items()]
    t = "00:00:00.00>"
    lines = [*head, f"{t}PAN {_g(scenario.lat0)},{_g(scenario.lon0)}"]
    for a in scenario.aircraft:
        lines.append(f"{t}CRE {a.acid},{a.actype},{_g(a.lat)},{_g(a.lon)},{_g(a.hdg_deg)},{_g(a.alt_ft)},"
                     f"{_g(a.cas_kt)}")
        lines.append(f"{t}ADDWPT {a.acid},{_g(a.exit_lat)},{_g(a.exit_lon)}")
    return "\n".join(lines) + "\n"


def json_text(scenario: ScenarioFile) -> str:
    """The JSON text of ``scenario``."""
    data: dict[str, Any] = {k: v for k, v in scenario.notes.items() if k in _JsonScenario.model_fields}
    data["center"] = {"lat": scenario.lat0, "lon": scenario.lon0}
    data["agents"] = [{"id": a.acid, "type": a.actype, "lat": a.lat, "lon": a.lon, "hdg_deg": a.hdg_deg,
                       "spd_kt": a.cas_kt, "alt_ft": a.alt_ft, "waypoint": {"lat": a.exit_lat, "lon": a.exit_lon}}
                      for a in scenario.aircraft]
    return json.dumps(data, indent=2) + "\n"


def write_scenario(scenario: ScenarioFile, path: str | Path) -> Path:
    """Write ``scenario`` to ``path`` as ``.scn`` or ``.json`` (by suffix)."""
    path = Path(path)
    if path.suffix.lower() not in SUFFIXES:
        raise ScenarioFileError(f"{path}: a scenario file is .scn (BlueSky) or .json, not '{path.suffix}'")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json_text(scenario) if path.suffix.lower() == ".json" else scn_text(scenario))
    return path
