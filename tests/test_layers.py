"""The package's imports go one way: each layer imports only from the layers below it.

Bottom to top (a package imports from its own layer group only within itself):

    registries < config, presets < zoo < tracking < multiagent < envs < guidance < algos < runs
    < evaluation < callbacks < trackers < imitation < builtins (and the package root) < training
    < tuning | monitoring < server < cli < __main__

Checked twice: on the source (every ``import`` statement, also inside functions) and at run time
(importing every module of a layer, bottom up, in a fresh interpreter loads no module of a higher
layer). The package root and :mod:`hlynr.builtins` run first whatever is imported, so at run time
they load only the registries (built-in components are registered lazily, by module path), and
the layers up to ``zoo`` (config validation) load neither torch nor SB3 on import.
"""

from __future__ import annotations

import ast
import json
import os
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


HEAVY = ("torch", "stable_baselines3", "sb3_contrib", "pettingzoo", "supersuit", "optuna",
         "fastapi", "matplotlib", "tensorboard")
"""Third-party packages that take (much of) a second or more to import; torch most of all."""

LIGHT = ("registries", "config", "presets", "zoo")
"""The layers that load and validate config data: importing them loads nothing of :data:`HEAVY`."""

_WALK = r"""
import importlib, importlib.util, json, sys
from pathlib import Path

layers, heavy = json.loads(sys.argv[1]), json.loads(sys.argv[2])
root = Path(importlib.util.find_spec("hlynr").submodule_search_locations[0])


def modules(part):
    paths = sorted((root / part).rglob("*.py")) + [p for p in [root / f"{part}.py"] if p.is_file()]
    for path in paths:
        parts = ["hlynr", *path.relative_to(root).with_suffix("").parts]
        yield ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def new_since(before):
    new = set(sys.modules) - before
    return {"hlynr": sorted(m for m in new if m == "hlynr" or m.startswith("hlynr.")),
            "heavy": [h for h in heavy if h in new]}


report = {}
before = set(sys.modules)
import hlynr
report[""] = new_since(before)
for group in layers:
    for part in group:
        if part in ("", "builtins", "__main__"):  # loaded by any import / runs the command line
            continue
        before = set(sys.modules)
        for name in modules(part):
            importlib.import_module(name)
        report[part] = new_since(before)
print(json.dumps(report))
"""


def walk_layers(package_parent: Path = PACKAGE.parent) -> dict[str, dict[str, list[str]]]:
    """Import every module of the package, layer by layer from the bottom, in a fresh interpreter.

    Returns, for the package root (``""``) and each layer's package, the hlynr modules and the
    :data:`HEAVY` packages that importing it loaded (the layers below are loaded already).
    """
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(package_parent),
                                                        os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", _WALK, json.dumps(LAYERS), json.dumps(HEAVY)],
                         capture_output=True, text=True, timeout=300, cwd=package_parent, env=env)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def loaded_upwards(report: dict[str, dict[str, list[str]]]) -> list[str]:
    """``"importing hlynr.x loads hlynr.y.z"`` for every module of a higher layer (or a sibling)."""
    return [f"importing hlynr.{part} loads {module}"
            for part, new in report.items() if part
            for module in new["hlynr"] if _part(module) not in (part, "", "builtins")]


@pytest.fixture(scope="module")
def layer_walk() -> dict[str, dict[str, list[str]]]:
    return walk_layers()


def test_no_layer_loads_a_higher_one_at_run_time(layer_walk: dict[str, dict[str, list[str]]]) -> None:
    assert set(layer_walk) == set(LEVEL) - {"builtins", "__main__"}
    problems = loaded_upwards(layer_walk)
    assert not problems, "modules that load a higher layer when imported:\n" + "\n".join(problems)


def test_import_hlynr_loads_the_registries_only(layer_walk: dict[str, dict[str, list[str]]]) -> None:
    """``import hlynr`` registers every built-in lazily: no component module, torch or SB3."""
    root = layer_walk[""]
    assert {_part(m) for m in root["hlynr"]} == {"", "builtins", "registries"}, root["hlynr"]
    assert root["heavy"] == []


def test_config_layers_load_neither_torch_nor_sb3(layer_walk: dict[str, dict[str, list[str]]]) -> None:
    assert {part: layer_walk[part]["heavy"] for part in LIGHT} == {part: [] for part in LIGHT}


def test_the_run_time_check_sees_an_upward_load(tmp_path: Path) -> None:
    """A dynamic import the source check cannot see (``importlib.import_module``) is still found."""
    fake = tmp_path / "hlynr"
    for package in ("registries", "training"):
        (fake / package).mkdir(parents=True)
        (fake / package / "__init__.py").write_text("")
    (fake / "__init__.py").write_text("")
    (fake / "registries" / "table.py").write_text(
        "import importlib\nimportlib.import_module('hlynr.training.runner')\n")
    (fake / "training" / "runner.py").write_text("")
    problems = loaded_upwards(walk_layers(tmp_path))
    assert problems == ["importing hlynr.registries loads hlynr.training",
                        "importing hlynr.registries loads hlynr.training.runner"]


def test_validating_a_config_loads_only_what_it_names() -> None:
    """A config's algorithm class is imported to validate its hyperparameters (SB3 and torch
    with it); components the config does not name stay unloaded."""
    code = """
import json, sys
from hlynr.config import validate_config
validate_config({"name": "a", "total_timesteps": 1000, "env": {"id": "CartPole-v1"},
                 "algo": {"name": "PPO"}, "wrappers": [{"time_limit": {"max_episode_steps": 50}}]})
print(json.dumps(sorted(sys.modules)))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         cwd=PACKAGE.parent)
    assert out.returncode == 0, out.stderr
    loaded = set(json.loads(out.stdout.strip().splitlines()[-1]))
    assert {"stable_baselines3", "hlynr.envs.wrappers"} <= loaded
    parts = {_part(m) for m in loaded if m.startswith("hlynr.")}
    assert not parts & {"callbacks", "guidance", "training", "evaluation"}, sorted(parts)
    # PPO is hlynr's drop-in: its package and the shared modules it builds on, no other algorithm
    algos = {m for m in loaded if m.startswith("hlynr.algos.")}
    shared = {"hlynr.algos.flat", "hlynr.algos.mlp", "hlynr.algos.distributions", "hlynr.algos.fused_adam"}
    assert "hlynr.algos.ppo.ppo" in algos and all(m.startswith("hlynr.algos.ppo") or m in shared for m in algos), algos
    assert not {"hlynr.envs.intercept", "hlynr.envs.swarm", "sb3_contrib"} & loaded


@pytest.mark.parametrize("command", ["train.py", "evaluate.py", "monitor_training.py", "-m hlynr",
                                     "-m hlynr tune", "-m hlynr serve", "-m hlynr worker"])
def test_help_loads_nothing_heavy(command: str) -> None:
    """``--help`` of every command answers without torch, SB3, optuna or the server's packages."""
    out = subprocess.run([sys.executable, "-X", "importtime", *command.split(), "--help"],
                         capture_output=True, text=True, timeout=120, cwd=PACKAGE.parent)
    assert out.returncode == 0 and "usage:" in out.stdout, out.stderr[-2000:]
    loaded = {line.rsplit("|", 1)[1].strip() for line in out.stderr.splitlines()
              if line.startswith("import time:")}
    assert "hlynr" in loaded and not loaded & set(HEAVY)


def test_the_errors_the_cli_reports_are_real_classes() -> None:
    """The command line looks its input errors up by path (so that ``--help`` imports no torch)."""
    from hlynr.cli.common import _INPUT_ERRORS
    from hlynr.registries.base import load_object

    for path in _INPUT_ERRORS:
        assert issubclass(load_object(path), Exception), path


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


def test_reading_run_folders_and_groups_loads_no_learning_library() -> None:
    """Monitoring, the dashboard's lists and group tools read run folders and group layouts
    without torch or SB3."""
    code = """
import json, sys
import hlynr.runs.group, hlynr.runs.checkpoints, hlynr.runs.progress_log, hlynr.runs.files
print(json.dumps(sorted(sys.modules)))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=PACKAGE.parent)
    assert out.returncode == 0, out.stderr
    loaded = set(json.loads(out.stdout.strip().splitlines()[-1]))
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))
