"""``hlynr replay``: watch what a policy does, on the same seeded episodes as ``evaluate.py``.

    hlynr replay runs/atc_ppo/20261121-221500                       # best model, episode 0 (seed 0)
    hlynr replay RUN --which final --baseline mvp --episodes 3      # beside MVP on seeds 0, 1, 2
    hlynr replay RUN --seed 100 --format gif --out videos/          # GIFs of episode 100
    hlynr replay --config configs/intercept/ppo_standard.yaml --baseline pn   # a baseline alone
    hlynr replay --from traj.npz --baseline pn                       # from evaluate.py --trajectories

Each episode gives one video (the policy's panel, and with --baseline the baseline's episode on
the same seed beside it) and one still picture of the whole episode (paths, outcome, and the
actor's attention over time when the policy has an attention extractor).
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from typing import Any

from hlynr.cli.common import CliError, entry, make_console, stage_selector

console = make_console()


def build_parser() -> argparse.ArgumentParser:
    """The ``hlynr replay`` argument parser."""
    p = argparse.ArgumentParser(prog="hlynr replay", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("target", nargs="?", metavar="RUN",
                   help="run folder, saved-model folder or model .zip (one model)")
    p.add_argument("--which", default="best",
                   help="for run folders: best, final, latest, pretrain or a checkpoint name")
    p.add_argument("--config", help="config for a bare model file, or for a baseline alone")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key (e.g. env.kwargs.scenario=random)")
    p.add_argument("--baseline", metavar="NAME[:KEY=VALUE,...]",
                   help="draw this scripted baseline's episode on the same seed beside the policy's")
    p.add_argument("--seed", type=int, default=0, help="episode k uses seed SEED + k (as evaluate.py)")
    p.add_argument("--episodes", "-n", type=int, default=1, help="episodes to draw")
    p.add_argument("--stage", default="final",
                   help="curriculum stage: final (default), none or a stage index")
    p.add_argument("--stochastic", action="store_true", help="sample actions (default: deterministic)")
    p.add_argument("--out", metavar="DIR", help="output folder (default: RUN/replays/WHICH, or "
                                                "FILE's folder for --from)")
    p.add_argument("--format", choices=("mp4", "gif"), default="mp4", help="video format")
    p.add_argument("--from", dest="from_file", metavar="FILE",
                   help="draw a trajectory file of evaluate.py --trajectories (no simulation)")
    p.add_argument("--trajectories", metavar="FILE",
                   help="also keep the record drawn as a trajectory file (as evaluate.py writes)")
    return p


def _writable_folder(path: Path, option: str = "--out") -> Path:
    """``path``, checked to be a folder that can be created and written (CliError otherwise);
    nothing is created yet (see :func:`_make_folder`)."""
    if path.exists() and not path.is_dir():
        raise CliError(f"{option} {path}: not a folder")
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise CliError(f"{option} {path}: {existing} is not a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=".probe.", dir=existing)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise CliError(f"{option} {path}: cannot write there ({exc.strerror or exc})") from None
    return path


def _make_folder(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CliError(f"--out {path}: cannot create it ({exc.strerror or exc})") from None


def _check_replayable(config: Any) -> None:
    from hlynr.envs.rendering import RENDER_MODULES

    env_id = config.env.id
    if env_id not in RENDER_MODULES:
        raise CliError(f"{env_id} has no renderer; replays draw {', '.join(RENDER_MODULES)}")
    vectoriser = getattr(config.env, "vectoriser", None)
    if vectoriser != "batched":
        raise CliError(f"replays read the true state from hlynr's batched VecEnv; this config uses "
                       f"vectoriser {vectoriser!r}: add --set env.vectoriser=batched (same episodes)")


def _simulate(args: argparse.Namespace) -> tuple[Any, str | None, Path]:
    """Run the seeded episodes of the policy (and the baseline) with trajectories recorded."""
    from hlynr.cli.evaluate import parse_baseline
    from hlynr.evaluation.recording import TrajectoryCollector
    from hlynr.evaluation.scoring import ScoreSettings, score_baseline, score_model
    from hlynr.evaluation.targets import resolve_targets
    from hlynr.registries import BASELINES
    from hlynr.zoo import load_config

    if args.which == "all":
        raise CliError("--which all: a replay draws one model; name best, final, pretrain or a checkpoint")
    if not args.target and not (args.config and args.baseline):
        raise CliError("give a RUN (run folder or model), --config with --baseline, or --from FILE")
    baseline = parse_baseline(args.baseline) if args.baseline else None
    targets = (resolve_targets(args.target, args.which, args.config, tuple(args.overrides))
               if args.target else [])
    config = targets[0].config if targets else load_config(args.config, args.overrides).config
    if baseline is not None and config.env.id not in BASELINES.get(baseline[0]).env_ids:
        raise CliError(f"--baseline {args.baseline}: it drives "
                       f"{', '.join(BASELINES.get(baseline[0]).env_ids)}, not {config.env.id}")
    _check_replayable(config)
    stage = stage_selector(args.stage)
    if args.out:
        out = Path(args.out)
    elif targets and (Path(args.target) / "config.yaml").is_file():
        out = Path(args.target) / "replays" / args.which  # a run folder
    else:
        out = Path("replays")
    out = _writable_folder(out)
    if args.trajectories:
        _writable_folder(Path(args.trajectories).resolve().parent, "--trajectories")
    settings = ScoreSettings(args.episodes, args.seed, not args.stochastic, min(args.episodes, 8), stage)
    collect = TrajectoryCollector(config.env.id)
    for t in targets:
        score_model(t, settings, record=collect.recorder)
        collect.add(t.label, {"kind": "model", "model": str(t.model_path)})
    if baseline is not None:
        score_baseline(baseline[0], config, settings, baseline[1], record=collect.recorder)
        collect.add(f"baseline:{args.baseline}", {"kind": "baseline", "name": baseline[0],
                                                  "params": baseline[1]})
    traj = collect.trajectories(seed=args.seed, episodes=args.episodes,
                                deterministic=not args.stochastic,
                                success_key=config.env.success_key, stage=stage)
    return traj, f"baseline:{args.baseline}" if baseline is not None and targets else None, out


def _from_file(args: argparse.Namespace) -> tuple[Any, str | None, Path]:
    """Read a trajectory file and check it can be drawn (and matches RUN's env if one is named)."""
    from hlynr.evaluation.trajectories import Trajectories, TrajectoryError

    try:
        traj = Trajectories.load(args.from_file)
        traj.renderer()
        if not traj.has_states:
            raise TrajectoryError("it holds no true states (recorded without hlynr's batched "
                                  "VecEnv), so there is nothing to draw")
    except TrajectoryError as exc:
        raise CliError(f"--from {args.from_file}: {exc}") from None
    if args.target:
        from hlynr.evaluation.targets import resolve_targets
        from hlynr.zoo import load_config

        run_config = Path(args.target) / "config.yaml"
        config = (load_config(run_config).config if run_config.is_file() else
                  resolve_targets(args.target, args.which, args.config, tuple(args.overrides))[0].config)
        if config.env.id != traj.meta["env_id"]:
            raise CliError(f"--from {args.from_file}: a trajectory of {traj.meta['env_id']}, "
                           f"but {args.target} is a {config.env.id} run")
    other = None
    if args.baseline:
        other = f"baseline:{args.baseline}"
        if other not in traj.labels:
            raise CliError(f"--from {args.from_file}: no row '{other}'; rows: {', '.join(traj.labels)}")
    out = _writable_folder(Path(args.out) if args.out
                           else Path(args.from_file).with_name(Path(args.from_file).stem + "_replay"))
    return traj, other, out


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``hlynr replay``."""
    args = build_parser().parse_args(argv)
    # Drawing and loading models import Pillow, SB3 and torch: after the arguments are read.
    from hlynr.evaluation import replay as draw
    from hlynr.evaluation.trajectories import TrajectoryError

    if args.episodes < 1:
        raise CliError("--episodes must be at least 1")
    if args.from_file and args.trajectories:
        raise CliError("--trajectories keeps the record of simulated episodes; --from reads one")
    traj, other, out = _from_file(args) if args.from_file else _simulate(args)
    labels = traj.labels
    first = 0 if other is None or labels[0] != other else next(
        i for i, label in enumerate(labels) if label != other)
    rows = [first] + ([labels.index(other)] if other is not None and labels.index(other) != first else [])
    fps = float(traj.meta["state"].get("fps") or 20.0)
    key = traj.meta.get("success_key", "is_success")
    seed0 = int(traj.meta["seed"])
    episodes = traj.episode_indices(rows[0])
    if args.from_file:
        episodes = episodes[:args.episodes]
    try:  # every episode is read before anything is written
        plans = [(k, [draw.panel(traj, r, k) for r in rows]) for k in episodes]
    except TrajectoryError as exc:
        raise CliError(f"{args.from_file or 'replay'}: {exc}") from None
    _make_folder(out)
    written: list[Path] = []
    for k, panels in plans:
        stem = f"episode_{seed0 + k}" + ("_vs_" + _safe(labels[rows[1]]) if len(rows) > 1 else "")
        video, picture = draw.write_episode(panels, out, stem, args.format, fps, key)
        written += [video, picture]
        outcome = "  |  ".join(f"{p.label}: {draw.outcome_text(p.final, key)[0]}" for p in panels)
        console.print(f"seed {seed0 + k}: {outcome}", markup=False)
        console.print(f"  {video}\n  {picture}", markup=False)
    if args.trajectories:
        traj.save(args.trajectories)
        console.print(f"wrote {args.trajectories}", markup=False)
    console.print(f"wrote {len(written)} files to {out}", markup=False)
    return 0


def _safe(label: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_=." else "_" for ch in label)


if __name__ == "__main__":
    entry(main)
