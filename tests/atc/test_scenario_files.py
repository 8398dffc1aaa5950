"""ATC scenarios from files: the projection and airspeed conversions round-trip, every named preset
written to a file (``hlynr scenario export``) and loaded back gives the same episodes for the same
seeds, an exported episode replays, and a malformed file is one ``error:`` line with its line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from hlynr.cli.common import run_main
from hlynr.envs.atc import ATCEnv, ATCParams
from hlynr.envs.atc.export import REPLAY
from hlynr.envs.atc.geo import Projection, cas_to_tas, tas_to_cas
from hlynr.envs.atc.params import SCENARIO_SIZES
from hlynr.envs.atc.scenario_files import ScenarioFileError, parse_json, parse_scn, read_scenario
from hlynr.envs.atc.scenarios import generate
from hlynr.envs.atc.units import KT, NM
from hlynr.registries import BASELINES

PRESETS = list(SCENARIO_SIZES)
STATE = ("pos", "heading", "speed", "alt", "exit", "present")


def export(tmp_path: Path, *args: str) -> list[Path]:
    from hlynr.cli import scenario

    out = tmp_path / "scn"
    assert run_main(scenario.main, ["export", *args, "--out", str(out)]) == 0
    return sorted(out.iterdir())


def atc_config(tmp_path: Path, kwargs: dict[str, Any]) -> Path:
    path = tmp_path / "atc.yaml"
    path.write_text(yaml.safe_dump({
        "name": "atc_file", "total_timesteps": 256, "torch_threads": 1,
        "env": {"type": "pettingzoo", "id": "hlynr/ATC-v0", "n_envs": 1, "kwargs": kwargs},
        "algo": {"name": "PPO", "hyperparams": {"n_steps": 32, "batch_size": 32}}}))
    return path


def same_traffic(a: ATCParams, b: ATCParams, seed: int) -> None:
    ta, tb = generate(a, [np.random.default_rng(seed)]), generate(b, [np.random.default_rng(seed)])
    for key in STATE:
        np.testing.assert_allclose(getattr(ta, key), getattr(tb, key), rtol=0, atol=1e-6, err_msg=key)


def play(env: ATCEnv, seed: int, steps: int = 80) -> list[np.ndarray]:
    """Observations of ``direct`` flying ``steps`` steps of episode ``seed``."""
    policy = BASELINES.get("direct").policy(env.observation_space("aircraft_0"), env.action_space("aircraft_0"))
    obs, _ = env.reset(seed=seed)
    seen = []
    for _ in range(steps):
        rows = np.stack([obs[a] for a in env.possible_agents])
        seen.append(rows)
        actions = policy.act(rows)
        obs, _, term, trunc, _ = env.step(dict(zip(env.possible_agents, actions)))
        if any(term.values()) or any(trunc.values()):
            break
    return seen


def test_projection_and_airspeed_round_trip() -> None:
    rng = np.random.default_rng(0)
    for lat0, lon0 in [(52.0, 4.0), (-33.9, 151.2), (0.0, 179.9), (64.1, -21.9)]:
        proj = Projection(lat0, lon0)
        east, north = rng.uniform(-200 * NM, 200 * NM, (2, 100))
        lat, lon = proj.to_latlon(east, north)
        e2, n2 = proj.to_xy(lat, lon)
        np.testing.assert_allclose(e2, east, atol=1e-6)
        np.testing.assert_allclose(n2, north, atol=1e-6)
    # one NM north is 1/60 deg of latitude on the 6371 km sphere (within its 0.07 % of 1852 m)
    assert Projection(52.0, 4.0).to_xy(52.0 + 1 / 60, 4.0)[1] == pytest.approx(NM, rel=1e-3)
    h = rng.uniform(0, 15000, 50)
    tas = rng.uniform(150, 300, 50) * KT
    np.testing.assert_allclose(cas_to_tas(tas_to_cas(tas, h), h), tas, rtol=1e-12)
    assert cas_to_tas(250 * KT, 0.0) == pytest.approx(250 * KT, rel=1e-8)  # ISA sea level
    assert cas_to_tas(250 * KT, 10000 * 0.3048) / KT == pytest.approx(288.7, abs=0.1)


@pytest.mark.parametrize("fmt", ["scn", "json"])
def test_every_preset_exported_and_loaded_back_gives_the_same_episodes(fmt: str, tmp_path: Path) -> None:
    for preset in PRESETS:
        for extra in ({}, {"altitude_layers": 2}):
            path = atc_config(tmp_path, {"scenario": preset, "max_aircraft": 4, **extra})
            [written] = export(tmp_path / preset, "--config", str(path), "--base", "--format", fmt)
            assert written.name == f"{preset}_base.{fmt}"
            kwargs = {"max_aircraft": 4, **extra}
            original = ATCParams(scenario=preset, **kwargs)
            loaded = ATCParams(scenario=f"file:{written}", **kwargs)
            assert loaded.aircraft_count == SCENARIO_SIZES[preset]
            for seed in range(4):
                same_traffic(original, loaded, seed)
        # and the episodes flown from them are the same
        a, b = ATCEnv(params=original), ATCEnv(params=loaded)
        for ra, rb in zip(play(a, 11), play(b, 11), strict=True):
            np.testing.assert_allclose(ra, rb, atol=1e-5)


def test_an_exported_episode_replays_with_the_draws_off(tmp_path: Path) -> None:
    path = atc_config(tmp_path, {"scenario": "random", "max_aircraft": 6, "n_aircraft": 6, "altitude_layers": 2})
    files = export(tmp_path, "--config", str(path), "--seed", "5", "--episodes", "2")
    assert [f.name for f in files] == ["random_seed5.scn", "random_seed6.scn"]
    for seed, file in zip((5, 6), files):
        env = ATCEnv(scenario="random", max_aircraft=6, n_aircraft=6, altitude_layers=2)
        replay = ATCEnv(scenario=f"file:{file}", max_aircraft=6, **REPLAY)
        env.reset(seed=seed)
        replay.reset(seed=12345)  # any seed: nothing is drawn
        for key in STATE:
            np.testing.assert_allclose(getattr(env.engine, key), getattr(replay.engine, key), atol=1e-6)
    # with the altitude moved for BlueSky, the speeds stay the same true airspeeds
    high = export(tmp_path / "high", "--config", str(path), "--seed", "5", "--altitude-ft", "10000")[0]
    text = high.read_text()
    assert ",10000.0," in text or ",11000.0," in text
    lifted = ATCParams(scenario=f"file:{high}", max_aircraft=6, **REPLAY)
    assert lifted.scenario_file is not None
    first = ATCEnv(scenario="random", max_aircraft=6, n_aircraft=6, altitude_layers=2)
    first.reset(seed=5)
    np.testing.assert_allclose(lifted.scenario_file.speeds(), first.engine.speed[0], rtol=1e-12)


def test_file_scenarios_take_the_seeded_jitter(tmp_path: Path) -> None:
    scn = tmp_path / "x.scn"
    scn.write_text("00:00:00.00>PAN 10,20\n"
                   "00:00:00.00>CRE A1 B738 10.5 20 180 FL100 250\n00:00:00.00>DEST A1 9.5 20\n"
                   "00:00:00.00>CRE A2,B744,10,20.5,270,10000,250\n00:00:00.00>ADDWPT A2,10,19.5\n")
    p = ATCParams(scenario=f"file:{scn}")
    a, b = (generate(p, [np.random.default_rng(s)]) for s in (0, 1))
    assert not np.allclose(a.pos, b.pos)
    fixed = generate(p.updated(**REPLAY), [np.random.default_rng(0)])
    north = fixed.pos[0, 0, 1] / NM
    assert north == pytest.approx(30.0, rel=2e-3)  # 0.5 deg of latitude
    assert fixed.speed[0, 0] / KT == pytest.approx(cas_to_tas(250 * KT, 3048.0) / KT)
    assert fixed.alt[0, 0] == pytest.approx(3048.0) and fixed.present[0].tolist() == [True, True, False, False]
    assert fixed.heading[0, 0] == pytest.approx(np.pi)  # straight at the exit (south)


@pytest.mark.parametrize(("text", "line", "fragment"), [
    ("00:00:00.00>CRE A1,B738,52,4,0,FL100,250\n00:00:00.00>FOO A1\n", 2, "unknown command 'FOO'"),
    ("00:00:00.00>CRE A1,B738,52,4,0,FL100\n", 1, "CRE takes 7 arguments"),
    ("00:00:00.00>CRE A1,B738,52,4,0,FL100,M0.78\n", 1, "Mach speeds are not read"),
    ("00:00:00.00>CRE A1,B738,52,4,0,FL100,250\n00:01:00.00>DEST A1,53,4\n", 2, "must be at 00:00:00.00"),
    ("00:00:00.00>CRE A1,B738,52,4,0,FL100,250\n00:00:00.00>DEST A1,EHAM\n", 2, "DEST takes 3 arguments"),
    ("00:00:00.00>CRE A1,B738,52,4,0,FL100,250\n00:00:00.00>ADDWPT A1,SPY,4\n", 2, "is not a position"),
    ("# comment\n00:00:00.00>CRE A1,B738,52,4,0,FL100,250\n00:00:00.00>ADDWPT A1,53,4\n"
     "00:00:00.00>ADDWPT A1,54,4\n", 4, "already has its exit (line 3)"),
    ("00:00:00.00>ADDWPT A1,53,4\n", 1, "which no CRE before it created"),
    ("00:00:00.00>CRE A1,B738,52,4,0,FL100,250\n", 1, "has no exit"),
    ("CRE A1,B738,52,4,0,FL100,250\n", 1, "expected 'HH:MM:SS.hh>COMMAND arguments'"),
    ("00:00:00.00>CRE A1,B738,95,4,0,FL100,250\n", 1, "latitude must lie in [-90, 90]"),
])
def test_malformed_scn_lines_name_file_and_line(text: str, line: int, fragment: str) -> None:
    with pytest.raises(ScenarioFileError) as exc:
        parse_scn(text, "t.scn")
    assert str(exc.value).startswith(f"t.scn:{line}: ") and fragment in str(exc.value), str(exc.value)


def test_json_fields_are_checked_with_their_line() -> None:
    good = {"scenario_name": "x", "center": {"lat": 52, "lon": 4, "alt_ft": 10000},
            "agents": [{"id": "A1", "type": "A320", "lat": 52.5, "lon": 4, "hdg_deg": 180, "spd_kt": 250,
                        "waypoint": {"lat": 51.5, "lon": 4}}]}
    scenario = parse_json(json.dumps(good, indent=2), "s.json")
    assert scenario.aircraft[0].alt_ft == 10000 and scenario.notes == {"scenario_name": "x"}
    bad = json.loads(json.dumps(good))
    bad["agents"][0]["spd_kts"] = 250
    text = json.dumps(bad, indent=2)
    with pytest.raises(ScenarioFileError) as exc:
        parse_json(text, "s.json")
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "spd_kts" in t)
    assert str(exc.value).startswith(f"s.json:{line}: agents.0.spd_kts: unknown key 'spd_kts' "
                                     "(did you mean 'spd_kt'?)"), str(exc.value)
    with pytest.raises(ScenarioFileError, match=r"s.json:3: malformed JSON"):
        parse_json('{"agents": [\n  {"id": "A1"},\n  ]\n}', "s.json")


def test_a_malformed_file_is_one_error_line_and_nothing_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                                              ) -> None:
    from hlynr.cli import train

    scn = tmp_path / "bad.scn"
    scn.write_text("00:00:00.00>CRE A1,B738,52,4,0,FL100,250\n00:00:00.00>ADDWPT A1,53,4\n"
                   "00:00:00.00>CRE A2,B738,52.5,4.5,0,FL100,250,extra\n")
    config = atc_config(tmp_path, {"scenario": f"file:{scn}"})
    runs = tmp_path / "runs"
    assert run_main(train.main, ["--config", str(config), "--runs-dir", str(runs), "-q"]) == 2
    err = capsys.readouterr().err
    errors = [t for t in err.splitlines() if t.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in err, err
    assert f"{config}:" in err and "env.kwargs.scenario" in err and f"{scn.resolve()}:3: CRE takes 7 arguments" in err
    assert not runs.exists()


def test_scenario_parameter_is_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown scenario 'head_onn' \(did you mean 'head_on'\?\)"):
        ATCParams(scenario="head_onn")
    with pytest.raises(ValueError, match="cannot read the scenario file"):
        ATCParams(scenario=f"file:{tmp_path / 'missing.scn'}")
    scn = tmp_path / "fast.scn"
    scn.write_text("00:00:00.00>CRE A1,B738,52,4,0,FL300,280\n00:00:00.00>ADDWPT A1,53,4\n"
                   "00:00:00.00>CRE A2,B738,52,4.5,0,FL300,250\n00:00:00.00>ADDWPT A2,53,4.5\n")
    with pytest.raises(ValueError, match=r"aircraft 'A1' flies at 4\d\d\.\d kt true airspeed, outside"):
        ATCParams(scenario=f"file:{scn}")
    assert ATCParams(scenario=f"file:{scn}", max_speed_kt=500).aircraft_count == 2
    with pytest.raises(ValueError, match="needs 2 aircraft but max_aircraft=1|max_aircraft"):
        ATCParams(scenario=f"file:{scn}", max_speed_kt=500, max_aircraft=1, n_aircraft=2)
    # a relative path is stored resolved, so a run's config.yaml works from anywhere
    rel = ATCParams(scenario=f"file:{scn}", max_speed_kt=500)
    assert rel.scenario == f"file:{scn.resolve()}" and read_scenario(scn) is read_scenario(scn)
