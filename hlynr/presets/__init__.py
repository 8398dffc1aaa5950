"""Configs shipped inside the package: ``python train.py`` with no ``--config`` uses ``default``."""

from __future__ import annotations

from pathlib import Path

from hlynr.registries import UnknownNameError

PRESETS_DIR = Path(__file__).parent


def preset_path(name: str) -> Path:
    """Path of the embedded config ``name`` (``default``, ...)."""
    path = PRESETS_DIR / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))
        raise UnknownNameError("preset", name, known)
    return path
