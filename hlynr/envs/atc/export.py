"""An episode's initial traffic as a scenario file (``hlynr scenario export``).

:func:`episode_traffic` gives the traffic episode ``seed`` starts with, exactly as
``ATCEnv.reset(seed=seed)`` (and evaluation episode ``k`` of ``evaluate.py --seed S``, seed
``S + k``) draws it, as a :class:`~hlynr.envs.atc.scenario_files.ScenarioFile`. Loaded back
with ``jitter_nm: 0, speed_jitter_kt: 0, rotate: false`` (and one flight level) it starts the
same episode. With ``seed=None`` it gives the scenario's geometry before any jitter (a named
preset as defined, or a file's own traffic): loaded back with the original jitter settings it
gives the same episodes as the scenario itself, seed for seed.
"""

from __future__ import annotations

import numpy as np

from hlynr.envs.atc.geo import Projection
from hlynr.envs.atc.params import FILE_PREFIX, ATCParams
from hlynr.envs.atc.scenario_files import ScenarioFile, from_traffic
from hlynr.envs.atc.scenarios import generate
from hlynr.envs.atc.units import FT

DEFAULT_CENTER = (52.0, 4.0)
"""Reference point of exported presets and random traffic (lat, lon): over the North Sea coast."""
REPLAY = {"jitter_nm": 0.0, "speed_jitter_kt": 0.0, "rotate": False, "altitude_layers": 1}
"""Parameters that turn the seeded draws off: a file exported with a seed replays its episode."""


def episode_traffic(params: ATCParams, seed: int | None, *, center: tuple[float, float] | None = None,
                    altitude_ft: float = 0.0) -> ScenarioFile:
    """The initial traffic of episode ``seed`` (``None``: before jitter); see the module docstring.

    ``center``: the reference point (default: the scenario file's own, else
    :data:`DEFAULT_CENTER`). ``altitude_ft`` moves every aircraft up (e.g. 10000 to fly the file
    in BlueSky clear of the ground; hlynr's dynamics depend on level differences only)."""
    if seed is None:
        if params.scenario == "random":
            raise ValueError("random traffic has no geometry before its seeded draws: give a seed")
        params = params.updated(**REPLAY)
    traffic = params.scenario_file
    if center is None:
        center = (traffic.lat0, traffic.lon0) if traffic is not None else DEFAULT_CENTER
    tr = generate(params, [np.random.default_rng(seed if seed is not None else 0)])
    flying = tr.present[0]
    alt = tr.alt[0, flying] + altitude_ft * FT
    names = [a.acid for a in traffic.aircraft] if traffic is not None else None
    types = [a.actype for a in traffic.aircraft] if traffic is not None else None
    what = params.scenario if traffic is None else f"file {params.scenario[len(FILE_PREFIX):]}"
    notes = {"scenario_name": f"{what}, " + (f"seed {seed}" if seed is not None else "before jitter")}
    return from_traffic(tr.pos[0, flying], tr.exit[0, flying], tr.speed[0, flying], alt,
                        Projection(*center), heading=tr.heading[0, flying], names=names, types=types,
                        notes=notes)
