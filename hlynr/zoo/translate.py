"""Translate one entry of an RL Zoo hyperparameter file into hlynr's config data.

A Zoo file (``hyperparams/<algo>.yml``) maps env ids, plus ``default``, to hyperparameters; the
entry for an env is its own, else ``default``, as in the Zoo. Every Zoo key maps to a hlynr key
(see ``docs/zoo.md``); the result is plain data that hlynr then validates like any config, with
each key's origin pointing at its line in the Zoo file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hlynr.config.loader import ConfigError, Origin, parse_yaml
from hlynr.config.signatures import hyperparams_model
from hlynr.zoo.expressions import UnsupportedExpression, parse_expression

ZOO_ALGOS = {
    "a2c": "A2C", "ppo": "stable_baselines3.PPO", "trpo": "TRPO", "sac": "stable_baselines3.SAC",
    "td3": "stable_baselines3.TD3", "ddpg": "DDPG", "tqc": "sb3_contrib.TQC", "crossq": "CrossQ",
    "dqn": "DQN", "qrdqn": "QRDQN", "ppo_lstm": "sb3_contrib.RecurrentPPO",
}
"""The Zoo's algorithm names (its ``--algo`` and file names) -> hlynr's algorithm names: the
Zoo's own classes, so a Zoo file trains exactly what the Zoo trains (``--set algo.name=SAC`` or
``PPO`` picks hlynr's faster drop-in, as ``RecurrentPPO`` does for ``ppo_lstm``)."""

SCHEDULE_KEYS = ("learning_rate", "clip_range", "clip_range_vf", "delta_std")
"""Keys whose ``lin_X`` strings the Zoo turns into linear schedules (``progress_remaining * X``)."""

VEC_NORMALIZE_GAMMA = 0.99
"""VecNormalize's own discount, which the Zoo keeps when an entry sets no ``gamma``."""

ZOO_EVALUATION = {"every": 25000, "episodes": 5}
"""The Zoo's default evaluation (``--eval-freq 25000 --eval-episodes 5``, best model saved)."""


class ZooError(ConfigError):
    """A Zoo file or entry that cannot be translated; ``str()`` names file, entry and key."""


@dataclass(frozen=True)
class ZooEntry:
    """The hyperparameters of one env in a Zoo file, with where each key was written."""

    file: str
    env_id: str
    name: str  # the entry used: the env id or "default"
    algo: str  # hlynr's algorithm name
    params: dict[str, Any]
    lines: dict[str, int]
    notes: list[str] = field(default_factory=list)
    """What the translation changed where hlynr is stricter than SB3 (same training)."""

    def error(self, key: str | None, msg: str) -> ZooError:
        """An error naming the file (and line), the env entry and the key."""
        line = self.lines.get(key, "") if key else ""
        where = f"{self.file}:{line}" if line else self.file
        return ZooError(f"{where}: entry '{self.name}'{f', key {key!r}' if key else ''}: {msg}")

    def origin(self, key: str) -> Origin:
        """``(file, line)`` of a Zoo key, for hlynr's validation messages."""
        return (self.file, self.lines.get(key))


def zoo_algo(file: str | Path, algo: str | None = None) -> str:
    """hlynr's algorithm name for a Zoo file: ``algo`` if given, else the file's stem."""
    name = (algo or Path(file).stem).lower()
    if name in ZOO_ALGOS:
        return ZOO_ALGOS[name]
    raise ZooError(f"{file}: unknown RL Zoo algorithm '{name}' (from "
                   f"{'--algo' if algo else 'the file name'}); known: {', '.join(ZOO_ALGOS)}")


def read_entry(file: str | Path, env_id: str, algo: str | None = None) -> ZooEntry:
    """Read the entry of ``env_id`` in a Zoo YAML file (falling back to ``default``)."""
    path = Path(file)
    if path.suffix not in (".yml", ".yaml"):
        raise ZooError(f"{file}: hlynr reads Zoo YAML files only (.yml/.yaml); Python configs "
                       "would have to be executed")
    try:
        text = path.read_text()
    except OSError as exc:
        raise ZooError(f"cannot read RL Zoo file {file}: {exc.strerror or exc}") from None
    data, lines = parse_yaml(text, str(file))
    if not isinstance(data, dict):
        raise ZooError(f"{file}: an RL Zoo file is a mapping of env ids to hyperparameters")
    name = env_id if env_id in data else "default" if "default" in data else None
    if name is None:
        raise ZooError(f"{file}: no entry for '{env_id}' and no 'default' entry; entries: "
                       f"{', '.join(map(str, data))}")
    params = data[name] or {}
    if not isinstance(params, dict):
        raise ZooError(f"{file}:{lines.get((name,), '')}: entry '{name}' must be a mapping")
    return ZooEntry(str(file), env_id, name, zoo_algo(file, algo), dict(params),
                    {k[1]: v for k, v in lines.items() if len(k) == 2 and k[0] == name})


def _class_path(name: Any, entry: ZooEntry, key: str) -> str:
    """The Zoo's dotted class name (``pkg.mod.Class``) as hlynr's ``pkg.mod:Class``."""
    if not isinstance(name, str) or not name:
        raise entry.error(key, f"expected a class name, got {name!r}")
    if ":" in name or "." not in name:
        return name
    module, _, cls = name.rpartition(".")
    return f"{module}:{cls}"


def _components(value: Any, entry: ZooEntry, key: str) -> list[Any]:
    """A Zoo ``env_wrapper`` / ``vec_env_wrapper`` / ``callback`` value as hlynr list items."""
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    out: list[Any] = []
    for item in items:
        if isinstance(item, dict) and len(item) == 1:
            name, kwargs = next(iter(item.items()))
            out.append({_class_path(name, entry, key): kwargs or {}})
        elif isinstance(item, str):
            out.append(_class_path(item, entry, key))
        else:
            raise entry.error(key, f"each item is a class name or {{name: {{kwargs}}}}, got {item!r}")
    return out


def _expression(value: Any, entry: ZooEntry, key: str) -> Any:
    """A Python-expression string parsed as data; other values as they are."""
    if not isinstance(value, str):
        return value
    try:
        return parse_expression(value)
    except UnsupportedExpression as exc:
        raise entry.error(key, f"{exc} in {value!r}") from None


_LINEAR = re.compile(r"^lin_(.+)$")


def _schedule(value: Any, entry: ZooEntry, key: str) -> Any:
    """``lin_X`` -> a linear schedule from X to 0 (the Zoo's ``progress_remaining * X``)."""
    if not isinstance(value, str):
        return value
    match = _LINEAR.match(value)
    try:
        start = float(match.group(1)) if match else None
    except ValueError:
        start = None
    if start is None:
        raise entry.error(key, f"unsupported schedule {value!r}: the Zoo's schedule strings are "
                               "lin_<initial value>")
    return {"schedule": "linear", "start": start, "end": 0.0}


def _mapping(value: Any, entry: ZooEntry, key: str) -> dict[str, Any]:
    value = _expression(value, entry, key)
    if not isinstance(value, dict):
        raise entry.error(key, f"expected a mapping (or a dict(...) string), got {value!r}")
    return value


def _action_noise(params: dict[str, Any], entry: ZooEntry) -> dict[str, Any]:
    kind = str(params.pop("noise_type")).strip()
    if "noise_std" not in params:
        raise entry.error("noise_type", "noise_type needs noise_std")
    sigma = params.pop("noise_std")
    if kind == "normal":
        return {"type": "normal", "sigma": sigma}
    if kind == "ornstein-uhlenbeck":
        return {"type": "ornstein_uhlenbeck", "sigma": sigma}
    raise entry.error("noise_type", f"unknown noise type {kind!r}; known: normal, ornstein-uhlenbeck")


def run_name(algo: str, env_id: str) -> str:
    """A run name for a Zoo entry, as the Zoo names its log folders: ``<algo>_<env>``."""
    raw = f"{algo.rpartition('.')[2].lower()}_{env_id}"
    return re.sub(r"[^A-Za-z0-9_.-]", "_", raw)


def translate(entry: ZooEntry) -> tuple[dict[str, Any], dict[tuple[Any, ...], Origin]]:
    """hlynr config data for a Zoo entry, and the Zoo line of each key it came from."""
    params = dict(entry.params)
    origins: dict[tuple[Any, ...], Origin] = {}

    def put(path: tuple[Any, ...], key: str) -> None:
        origins[path] = entry.origin(key)

    if "n_timesteps" not in params:
        raise entry.error(None, "n_timesteps is missing (the Zoo needs it too)")
    n_timesteps = params.pop("n_timesteps")
    if isinstance(n_timesteps, bool) or not isinstance(n_timesteps, (int, float)):
        raise entry.error("n_timesteps", f"must be a number, got {n_timesteps!r}")
    data: dict[str, Any] = {"name": run_name(entry.algo, entry.env_id),
                            "total_timesteps": int(n_timesteps)}
    put(("total_timesteps",), "n_timesteps")
    env: dict[str, Any] = {"id": entry.env_id}
    for zoo_key, key in (("n_envs", "n_envs"), ("env_kwargs", "kwargs")):
        if zoo_key in params:
            env[key] = params.pop(zoo_key)
            put(("env", key), zoo_key)
    if "monitor_kwargs" in params:
        env["monitor_kwargs"] = _mapping(params.pop("monitor_kwargs"), entry, "monitor_kwargs")
        put(("env", "monitor_kwargs"), "monitor_kwargs")
    data["env"] = env

    wrappers: list[Any] = []
    lines: list[str] = []
    for key in ("env_wrapper", "vec_env_wrapper"):
        items = _components(params.pop(key, None), entry, key)
        wrappers += items
        lines += [key] * len(items)
    normalize = params.pop("normalize", False)
    if normalize is not False:
        kwargs = {} if normalize is True else _mapping(normalize, entry, "normalize")
        kwargs["gamma"] = params.get("gamma", VEC_NORMALIZE_GAMMA)
        wrappers.append({"normalize": kwargs})
        lines.append("normalize")
    if params.get("frame_stack") is not None:
        wrappers.append({"frame_stack": {"n_stack": params.pop("frame_stack")}})
        lines.append("frame_stack")
    params.pop("frame_stack", None)
    data["wrappers"] = wrappers
    for i, key in enumerate(lines):
        put(("wrappers", i), key)

    user_callbacks = _components(params.pop("callback", None), entry, "callback")
    data["callbacks"] = [{"evaluation": dict(ZOO_EVALUATION)},
                         {"best_model": {"metric": "mean_reward"}}, *user_callbacks]
    for i in range(len(user_callbacks)):
        put(("callbacks", 2 + i), "callback")

    algo: dict[str, Any] = {"name": entry.algo}
    if "policy" in params:
        algo["policy"] = _class_path(params.pop("policy"), entry, "policy")
        put(("algo", "policy"), "policy")
    if "policy_kwargs" in params:
        algo["policy_kwargs"] = _mapping(params.pop("policy_kwargs"), entry, "policy_kwargs")
        put(("algo", "policy_kwargs"), "policy_kwargs")
    hyper: dict[str, Any] = {}
    if "noise_type" in params:
        hyper["action_noise"] = _action_noise(params, entry)
        put(("algo", "hyperparams", "action_noise"), "noise_type")
    if "replay_buffer_class" in params:
        hyper["replay_buffer_class"] = _class_path(params.pop("replay_buffer_class"), entry,
                                                   "replay_buffer_class")
    if "replay_buffer_kwargs" in params:
        params["replay_buffer_kwargs"] = _mapping(params["replay_buffer_kwargs"], entry,
                                                  "replay_buffer_kwargs")
    for key, value in params.items():
        hyper[key] = _schedule(value, entry, key) if key in SCHEDULE_KEYS else value
    for key in hyper:
        if key != "action_noise":
            put(("algo", "hyperparams", key), key)
    _clamp_batch(hyper, int(env.get("n_envs", 1)), entry)
    algo["hyperparams"] = hyper
    data["algo"] = algo
    return data, origins


def _clamp_batch(hyper: dict[str, Any], n_envs: int, entry: ZooEntry) -> None:
    """A minibatch larger than the rollout: SB3 trains on the whole rollout; hlynr says so.

    SB3's rollout buffer yields ``indices[start:start + batch_size]``, so a ``batch_size`` above
    ``n_steps * n_envs`` gives one minibatch of the whole rollout, exactly as ``batch_size =
    n_steps * n_envs`` does. hlynr rejects the larger value, so the translation writes the
    rollout size and records a note.
    """
    batch = hyper.get("batch_size")
    fields = hyperparams_model(entry.algo).model_fields
    if not isinstance(batch, int) or "n_steps" not in fields or "n_epochs" not in fields:
        return
    n_steps = hyper.get("n_steps", fields["n_steps"].default)
    if isinstance(n_steps, int) and batch > n_steps * n_envs:
        hyper["batch_size"] = n_steps * n_envs
        entry.notes.append(f"{entry.file}: entry '{entry.name}': batch_size {batch} exceeds the "
                           f"rollout n_steps x n_envs = {n_steps * n_envs}; SB3 then trains on "
                           f"the whole rollout as one minibatch, so batch_size is "
                           f"{n_steps * n_envs}")
