"""Every shipped config (configs/ and the embedded presets) validates."""

from __future__ import annotations

from pathlib import Path

import pytest

from hlynr.config import load_config
from hlynr.presets import PRESETS_DIR, preset_path

from hlynr_testing import REPO

CONFIGS = sorted((REPO / "configs").rglob("*.yaml")) + sorted(PRESETS_DIR.glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: str(p.relative_to(REPO)))
def test_shipped_config_validates(path: Path) -> None:
    config = load_config(path)
    assert config.total_timesteps > 0


def test_unknown_preset_is_named_with_suggestion() -> None:
    from hlynr.registries import UnknownNameError

    with pytest.raises(UnknownNameError, match="did you mean 'default'"):
        preset_path("defualt")


def test_embedded_default_is_the_intercept_ppo_config() -> None:
    shipped = (REPO / "configs" / "intercept" / "ppo_standard.yaml").read_text()
    assert preset_path("default").read_text() == shipped


def _readme_yaml_blocks() -> list[dict]:
    import re

    import yaml

    text = (REPO / "README.md").read_text()
    return [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", text, re.S)]


def test_readme_config_examples_validate() -> None:
    """The config and tune: examples in the README are real, valid configs."""
    from hlynr.config import validate_config

    blocks = _readme_yaml_blocks()
    full = next(b for b in blocks if "algo" in b and "env" in b)
    full.pop("extends")  # the example's base file is illustrative
    validate_config(full, "README.md")
    tune = next(b for b in blocks if set(b) == {"tune"})
    base = load_config(REPO / "configs" / "tuning" / "pendulum_ppo_tune.yaml").model_dump(mode="json")
    base["tune"] = tune["tune"]
    from hlynr.tuning.space import check_search_space

    check_search_space(validate_config(base, "README.md"), "README.md")
