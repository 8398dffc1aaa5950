"""Resolve what ``evaluate.py`` was asked to score into saved-model folders and their configs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hlynr.config import ExperimentConfig
from hlynr.runs.artifacts import MODEL_FILE, is_complete
from hlynr.runs.checkpoints import list_checkpoints
from hlynr.zoo import load_config


class TargetError(Exception):
    """An evaluation target does not exist or holds no usable model."""


@dataclass(frozen=True)
class ModelTarget:
    """One saved model to evaluate."""

    label: str
    model_path: Path  # the model.zip
    folder: Path  # where its normalisation statistics live
    config: ExperimentConfig


def _run_dir_of(path: Path) -> Path | None:
    for candidate in (path, *path.parents):
        if (candidate / "config.yaml").is_file() and (candidate / "progress.jsonl").exists():
            return candidate
    return None


def resolve_targets(
    target: str, which: str = "best", config_path: str | None = None, overrides: tuple[str, ...] = (),
) -> list[ModelTarget]:
    """Models to evaluate for ``target`` (a run folder, a saved-model folder or a model.zip).

    ``which`` (run folders only): ``best``, ``final``, ``latest`` (newest checkpoint),
    ``pretrain`` (the cloned policy), a checkpoint folder name, or ``all`` (pretrain, best,
    final and every checkpoint).
    """
    path = Path(target)
    if not path.exists():
        raise TargetError(f"evaluation target not found: {target}")
    run_dir = _run_dir_of(path if path.is_dir() else path.parent)
    if config_path:
        config = load_config(config_path, overrides).config
    elif run_dir is not None:
        config = load_config(run_dir / "config.yaml", overrides).config
    else:
        raise TargetError(f"{target} is not inside a run folder: pass --config to say which "
                          "env and algorithm it belongs to")
    if path.is_file():
        if path.suffix != ".zip":
            raise TargetError(f"{target}: expected a model .zip file, a model folder or a run folder")
        return [ModelTarget(path.stem if path.stem != "model" else path.parent.name, path,
                            path.parent, config)]
    if (path / MODEL_FILE).is_file():
        return [ModelTarget(path.name, path / MODEL_FILE, path, config)]
    if run_dir is None or path != run_dir:
        raise TargetError(f"{target} holds no model ({MODEL_FILE}) and is not a run folder")
    named = {"best": run_dir / "best", "final": run_dir / "final", "pretrain": run_dir / "pretrain"}
    checkpoints = list_checkpoints(run_dir)
    if checkpoints:
        named["latest"] = checkpoints[-1]
    if which == "all":
        folders = [f for f in (named["pretrain"], named["best"], named["final"], *checkpoints)
                   if is_complete(f)]
        if not folders:
            raise TargetError(f"{run_dir} holds no saved model yet")
        return [ModelTarget(f.name, f / MODEL_FILE, f, config) for f in folders]
    folder = named.get(which, run_dir / "checkpoints" / which)
    if not is_complete(folder):
        available = [k for k, f in named.items() if is_complete(f)] + [c.name for c in checkpoints]
        raise TargetError(f"{run_dir} has no complete '{which}' model; available: "
                          f"{', '.join(dict.fromkeys(available)) or '(none yet)'}")
    return [ModelTarget(which, folder / MODEL_FILE, folder, config)]
