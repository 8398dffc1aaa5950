"""``hlynr scenario export``: an ATC episode's initial traffic as a BlueSky ``.scn`` or JSON file.

    hlynr scenario export RUN --seed 0 --episodes 5 --out scn/        # evaluate.py RUN's episodes 0-4
    hlynr scenario export --config configs/atc/ppo_shared.yaml --base --out scn/   # the preset itself
    hlynr scenario export --config FILE --seed 7 --altitude-ft 10000 --format json --out scn/

Episode ``k`` uses seed ``--seed + k``, as in ``evaluate.py`` (same ``--stage``, default final),
so the files hold the traffic that evaluation scored. Load one with ``env.kwargs.scenario:
file:scn/<name>.scn`` and ``jitter_nm: 0, speed_jitter_kt: 0, rotate: false`` to replay that
episode; a ``--base`` file, with the scenario's own jitter settings, gives the scenario's episodes
seed for seed. docs/atc.md has the format.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hlynr.cli.common import CliError, add_config_arguments, entry, make_console

console = make_console()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hlynr scenario", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="action", required=True)
    ex = sub.add_parser("export", help="write episodes' initial traffic as scenario files")
    ex.add_argument("run", nargs="?", help="a run folder (its config.yaml)")
    add_config_arguments(ex, "an ATC config (instead of RUN)", "env.kwargs.scenario=head_on")
    ex.add_argument("--out", required=True, metavar="DIR", help="folder to write the files to")
    ex.add_argument("--seed", type=int, default=0, help="episode k uses seed SEED + k (as evaluate.py)")
    ex.add_argument("--episodes", type=int, default=1, help="how many episodes (files)")
    ex.add_argument("--base", action="store_true",
                    help="the scenario's geometry before its seeded jitter (one file; not for random traffic)")
    ex.add_argument("--stage", default="final", help="curriculum stage: final (default), none, or an index")
    ex.add_argument("--format", choices=("scn", "json"), default="scn")
    ex.add_argument("--center", metavar="LAT,LON",
                    help="reference point of the projection (default: a scenario file's own, else 52,4)")
    ex.add_argument("--altitude-ft", type=float, default=0.0,
                    help="move every aircraft up by this much (e.g. 10000 to fly the file in BlueSky)")
    return p


def _center(text: str | None) -> tuple[float, float] | None:
    if text is None:
        return None
    try:
        lat, lon = (float(x) for x in text.split(","))
    except ValueError:
        raise CliError(f"--center {text}: expected LAT,LON in decimal degrees") from None
    if not (-89.0 <= lat <= 89.0 and -180.0 <= lon <= 360.0):
        raise CliError(f"--center {text}: latitude within +-89, longitude within -180..360")
    return lat, lon


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``hlynr scenario``."""
    from hlynr.config.stages import StageSelector
    from hlynr.envs.atc import ENV_ID, ATCParams
    from hlynr.envs.atc.export import episode_traffic
    from hlynr.envs.atc.scenario_files import write_scenario
    from hlynr.presets import preset_path
    from hlynr.zoo import load_config

    args = build_parser().parse_args(argv)
    if args.run and (args.config or args.preset):
        raise CliError("give a run folder or --config/--preset, not both")
    if args.run:
        path = Path(args.run) / "config.yaml"
        if not path.is_file():
            raise CliError(f"{args.run} is not a run folder (no config.yaml)")
    elif args.config or args.preset:
        path = Path(args.config) if args.config else preset_path(args.preset)
    else:
        raise CliError("name a run folder or a config (--config FILE)")
    if args.episodes < 1:
        raise CliError("--episodes must be at least 1")
    config = load_config(path, args.overrides).config
    if config.env.id != ENV_ID:
        raise CliError(f"{path}: scenario files are for {ENV_ID}, this config runs {config.env.id}")
    stage: StageSelector
    if args.stage in ("final", "none"):
        stage = args.stage
    else:
        try:
            stage = int(args.stage)
        except ValueError:
            raise CliError(f"--stage must be final, none or a stage index, not {args.stage!r}") from None
    _, stage_params = config.stage(stage)
    try:
        params = ATCParams(**{**config.env.kwargs, **(stage_params or {})})
        seeds: list[int | None] = [None] if args.base else [args.seed + k for k in range(args.episodes)]
        out = Path(args.out)
        label = Path(params.scenario[5:]).stem if params.scenario.startswith("file:") else params.scenario
        for seed in seeds:
            traffic = episode_traffic(params, seed, center=_center(args.center), altitude_ft=args.altitude_ft)
            name = f"{label}_{'base' if seed is None else f'seed{seed}'}.{args.format}"
            written = write_scenario(traffic, out / name)
            console.print(f"{written}: {len(traffic.aircraft)} aircraft", markup=False)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    return 0


if __name__ == "__main__":
    entry(main)
