"""Every shipped config (configs/ and the embedded presets) validates."""

from __future__ import annotations

import copy
import random
from pathlib import Path

import pytest
from hlynr_testing import REPO

from hlynr.config import ConfigError, validate_config
from hlynr.config.loader import load_raw
from hlynr.presets import PRESETS_DIR, preset_path
from hlynr.zoo import load_config

CONFIGS = sorted((REPO / "configs").rglob("*.yaml")) + sorted(PRESETS_DIR.glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: str(p.relative_to(REPO)))
def test_shipped_config_validates(path: Path) -> None:
    config = load_config(path).config
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
    base = load_config(REPO / "configs" / "tuning" / "pendulum_ppo_tune.yaml").config.model_dump(mode="json")
    base["tune"] = tune["tune"]
    from hlynr.tuning.space import check_search_space

    check_search_space(validate_config(base, "README.md"), "README.md")


def _key_paths(node: object, path: tuple = ()) -> list[tuple]:
    """Every mapping key path of plain config data (list items by index)."""
    out = []
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(key, str):
                out.append(path + (key,))
            out += _key_paths(value, path + (key,))
    elif isinstance(node, list):
        for i, item in enumerate(node):
            out += _key_paths(item, path + (i,))
    return out


def _typo(key: str, rng: random.Random) -> str:
    i = rng.randrange(len(key))
    letters = [c for c in "abcdefghijklmnopqrstuvwxyz" if c != key[i]]
    return key[:i] + rng.choice(letters) + key[i + 1:]


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: str(p.relative_to(REPO)))
def test_random_key_typos_are_all_rejected_naming_the_key(path: Path) -> None:
    """Seeded one-letter typos at every depth: none is accepted, each error names the typo."""
    data, _ = load_raw(path)
    rng = random.Random(str(path.name))
    paths = [p for p in _key_paths(data) if p[-1] != "extends"]
    for key_path in rng.sample(paths, min(len(paths), 25)):
        parent = copy.deepcopy(data)
        node = parent
        for part in key_path[:-1]:
            node = node[part]
        typo = _typo(key_path[-1], rng)
        if typo in node:
            continue  # the typo is another key of the same mapping
        node[typo] = node.pop(key_path[-1])
        with pytest.raises(ConfigError) as err:
            validate_config(parent, str(path))
        assert typo in str(err.value), (key_path, typo, str(err.value))
