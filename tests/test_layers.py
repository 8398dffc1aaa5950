"""The package's imports go one way: each layer imports only from the layers below it.

Bottom to top (a package imports from its own layer group only within itself):

    registries < config, presets < zoo < tracking < multiagent < envs < guidance < algos < runs
    < evaluation < callbacks < trackers < imitation < builtins (and the package root) < training
    < tuning | monitoring < server < cli < __main__
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "hlynr"

LAYERS: list[tuple[str, ...]] = [
    ("registries",),
    ("config", "presets"),
    ("zoo",),
    ("tracking",),
    ("multiagent",),
    ("envs",),
    ("guidance",),
    ("algos",),
    ("runs",),
    ("evaluation",),
    ("callbacks",),
    ("trackers",),
    ("imitation",),
    ("builtins", ""),  # "": the package root, whose import registers the built-ins
    ("training",),
    ("tuning", "monitoring"),
    ("server",),
    ("cli",),
    ("__main__",),  # ``python -m hlynr``: the same entry point as the cli
]
LEVEL = {name: i for i, group in enumerate(LAYERS) for name in group}


def _part(module: str) -> str:
    """The top-level part of ``hlynr.x.y`` (``""`` for ``hlynr`` itself)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    """``(line, imported hlynr module)`` for every import in the file, also inside functions."""
    tree = ast.parse(path.read_text(), str(path))
    inside = path.is_relative_to(PACKAGE)
    module_name = _module_name(path) if inside else path.stem
    package = module_name if path.name == "__init__.py" else module_name.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module == "hlynr":  # from hlynr import x: x is a subpackage (or the root's __version__)
                found += [(node.lineno, "hlynr" if a.name == "__version__" else f"hlynr.{a.name}")
                          for a in node.names]
            else:
                found.append((node.lineno, module))
    return [(line, m) for line, m in found if m == "hlynr" or m.startswith("hlynr.")]


def test_every_package_has_a_layer() -> None:
    parts = {p.name if p.is_dir() else p.stem for p in PACKAGE.iterdir()
             if (p.is_dir() and (p / "__init__.py").exists()) or (p.suffix == ".py" and p.stem != "__init__")}
    assert parts <= set(LEVEL), f"packages without a layer: {sorted(parts - set(LEVEL))}"


def test_no_import_goes_up_the_layers() -> None:
    violations = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = _part(_module_name(path))
        for line, module in _imports(path):
            target = _part(module)
            if target == source:
                continue
            same_group = LEVEL[target] == LEVEL[source] and source  # the root may import builtins
            if LEVEL[target] > LEVEL[source] or same_group:
                violations.append(f"{path.relative_to(PACKAGE.parent)}:{line}: "
                                  f"{source or 'hlynr'} imports {module}")
    assert not violations, "imports that go up the layers:\n" + "\n".join(violations)


def test_the_detector_sees_an_upward_import(tmp_path: Path) -> None:
    bad = tmp_path / "x.py"
    bad.write_text("def f():\n    from hlynr.training.runner import Run\n")
    assert [m for _, m in _imports(bad)] == ["hlynr.training.runner"]


def test_ground_floor_imports_nothing_else_of_hlynr() -> None:
    for path in (PACKAGE / "registries").rglob("*.py"):
        outside = [m for _, m in _imports(path) if not m.startswith("hlynr.registries")]
        assert not outside, f"{path}: {outside}"


@pytest.mark.parametrize("config", ["every_builtin"])
def test_config_alone_validates_a_config_naming_every_builtin(config: str) -> None:
    """A fresh interpreter that imports only ``hlynr.config`` knows every built-in name."""
    code = """
import json, sys
import hlynr.config as c
from hlynr.registries import ALGORITHMS, BASELINES, CALLBACKS, PETTINGZOO_ENVS, WRAPPERS
names = {"algorithms": ALGORITHMS.names(), "wrappers": WRAPPERS.names(),
         "callbacks": CALLBACKS.names(), "baselines": BASELINES.names(),
         "pettingzoo": PETTINGZOO_ENVS.names()}
data = {
    "name": "all", "total_timesteps": 1000,
    "env": {"id": "hlynr/Intercept-v0", "n_envs": 2, "vectoriser": "batched",
            "kwargs": {"sensor": {"filter": "ca"}}},
    "wrappers": [{"residual_guidance": {"baseline": "pn"}},
                 {"frame_stack": {"n_stack": 2}}, {"normalize": {}}],
    "algo": {"name": "PPO", "hyperparams": {"n_steps": 64, "batch_size": 32},
             "policy_kwargs": {"activation_fn": "relu", "optimizer_class": "adamw"}},
    "callbacks": [{"evaluation": {"every": 500}}, "best_model", {"checkpoint": {"every": 500}},
                  "early_stopping", "success_streak", {"entropy_schedule": {"start": 0.01, "end": 0.0}},
                  {"curriculum": {"mode": "adaptive",
                                  "stages": [{"scenario": "easy"}, {"scenario": "standard"}]}},
                  "collapse_guard"],
}
c.validate_config(data)
CENTRALISED = ("MAPPO", "AsymmetricPPO", "RecurrentMAPPO", "AsymmetricRecurrentPPO")
for algo in [a for a in names["algorithms"] if a not in CENTRALISED]:
    env = "Pendulum-v1" if algo not in ("DQN", "QRDQN") else "CartPole-v1"
    c.validate_config({"name": "a", "total_timesteps": 1000, "env": {"id": env},
                       "algo": {"name": algo}})
c.validate_config({"name": "t", "total_timesteps": 1000, "env": {"id": "CartPole-v1"},
                   "wrappers": [{"time_limit": {"max_episode_steps": 50}},
                                {"mask_observation": {"keep": [0, 2]}}],
                   "algo": {"name": "PPO"}})
for env in names["pettingzoo"]:
    c.validate_config({"name": "s", "total_timesteps": 1000,
                       "env": {"type": "pettingzoo", "id": env}, "algo": {"name": "PPO"}})
for algo in ("MAPPO", "RecurrentMAPPO"):
    c.validate_config({"name": "m", "total_timesteps": 1000,
                       "env": {"type": "pettingzoo", "id": "hlynr/Swarm-v0", "vectoriser": "batched"},
                       "algo": {"name": algo}})
for algo in ("AsymmetricPPO", "AsymmetricRecurrentPPO"):
    c.validate_config({"name": "p", "total_timesteps": 1000,
                       "env": {"id": "hlynr/Intercept-v0", "vectoriser": "batched", "n_envs": 2},
                       "algo": {"name": algo, "hyperparams": {"n_steps": 64, "batch_size": 64}}})
print(json.dumps(names))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    names = json.loads(out.stdout.strip().splitlines()[-1])
    assert {"residual_guidance", "frame_stack", "normalize"} <= set(names["wrappers"])
    assert {"evaluation", "curriculum", "collapse_guard"} <= set(names["callbacks"])
    assert {"pn", "swarm_intercept_point"} <= set(names["baselines"])
    assert "RecurrentPPO" in names["algorithms"] and "hlynr/Swarm-v0" in names["pettingzoo"]
