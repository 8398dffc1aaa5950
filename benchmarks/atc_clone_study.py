#!/usr/bin/env python
"""Why a clone of ``mvp`` falls short: supervised fits on one fixed data set, one factor at a time.

``python benchmarks/atc_clone_study.py collect DATA.npz [--steps 400]`` drives random sector
traffic (``configs/atc/bc_ppo_random.yaml``: 64 copies x 6 aircraft, 5 intruder slots) with
``mvp`` through hlynr's own imitation collection (:func:`hlynr.imitation.collect.collect_round`
with the teacher driving, as the first DAgger round does) and saves the live rows, their labels
and the ``normalize`` wrapper's statistics at the end of the collection.

``python benchmarks/atc_clone_study.py fit DATA.npz [--only NAME ...] [--epochs N]`` fits small
supervised models (plain torch, MSE on the labels, Adam) on a random 90 % of the rows and prints
the held-out agreement (every axis within 0.1 of mvp's action, as the pretraining log counts
it), overall, on the rows where mvp resolves a conflict and on the rest, plus the mean absolute
error per axis, for each variant:

* ``mlp``: the MlpPolicy of the MLP clone (256-256 tanh) on VecNormalize-normalised inputs;
* ``mlp_raw``: the same on the raw observation rows;
* ``mlp_small`` / ``mlp_big``: capacity (64-64, 512-512-512);
* ``mlp_e3`` / ``mlp_e60``: epochs;
* ``mlp_sorted`` (slot order): valid slots sorted by dcpa, smallest first;
* ``deepsets``: per-slot network of (own, slot), masked sum, then a head on (own, sum)
  (``deepsets_norm``, ``deepsets_e60``, ``deepsets_wide``: normalised inputs, 60 epochs, width
  256; ``deepsets_cpa``: each slot also gets its CPA vector and 300 s / |tcpa|);
* ``attention``: hlynr's attention extractor (raw inputs, and ``attention_norm`` on
  VecNormalize-normalised ones, which is how a config with ``normalize`` fed it before the
  validity flags were kept raw, and ``attention_norm_rawflags`` as it is fed now).

Each variant also reports agreement on the conflict rows binned by the distance of the nearest
conflicting intruder's CPA to the zone edge (``dcpa / R``), where mvp's switch sits.

``python benchmarks/atc_clone_study.py sensitivity DATA.npz`` perturbs every intruder's relative
position and velocity by Gaussian noise (s.d. ``eps`` in observation units: ``eps`` x 20 NM and
``eps`` x 250 kt) and prints the share of conflict rows whose mvp action moves by more than 0.1.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch as th
import yaml
from torch import nn

import hlynr  # noqa: F401  (registers the built-in envs and baselines)
from hlynr.envs.atc import layout as L

CONFIG = Path(__file__).resolve().parent.parent / "configs" / "atc" / "bc_ppo_random.yaml"
TOL = 0.1


def collect(out: Path, steps: int, seed: int) -> None:
    """Teacher-driven rows of random traffic, labelled by mvp, saved to ``out``."""
    from hlynr.algos.builder import build_model
    from hlynr.config import validate_config
    from hlynr.envs.factory import build_vec_env
    from hlynr.imitation.collect import collect_round
    from hlynr.imitation.pretrain import _teacher

    data = yaml.safe_load(CONFIG.read_text())
    data["seed"] = seed
    data.pop("callbacks", None)
    cfg = validate_config(data)
    venv = build_vec_env(cfg, observation_tap=True)
    model = build_model(cfg, venv)
    teacher = _teacher(cfg, venv)
    t0 = time.perf_counter()
    r = collect_round(venv, teacher, model, steps, 0.0, np.random.default_rng(seed))
    obs, act = np.asarray(r.obs)[r.mask], r.actions[r.mask]
    rms = venv.obs_rms  # type: ignore[attr-defined]
    np.savez_compressed(out, obs=obs, act=act, mean=rms.mean, var=rms.var)
    print(f"{len(obs)} live rows of {r.mask.size} in {time.perf_counter() - t0:.0f} s -> {out}")
    venv.close()


# ------------------------------------------------------------------------------------ models


def mlp(n_in: int, hidden: list[int], act: type[nn.Module] = nn.Tanh, n_out: int = 2) -> nn.Sequential:
    layers: list[nn.Module] = []
    for h in hidden:
        layers += [nn.Linear(n_in, h), act()]
        n_in = h
    layers.append(nn.Linear(n_in, n_out))
    return nn.Sequential(*layers)


class DeepSets(nn.Module):
    """phi(own, slot) per slot, masked sum over valid slots, rho(own, sum)."""

    def __init__(self, k: int, width: int = 128, slot_size: int = L.SLOT_SIZE) -> None:
        super().__init__()
        self.k, self.slot_size = k, slot_size
        self.phi = nn.Sequential(nn.Linear(L.OWN_SIZE + slot_size, width), nn.ReLU(),
                                 nn.Linear(width, width), nn.ReLU(), nn.Linear(width, width))
        self.rho = mlp(L.OWN_SIZE + width, [width, width], nn.ReLU)

    def forward(self, x: th.Tensor, valid: th.Tensor) -> th.Tensor:
        own = x[:, :L.OWN_SIZE]
        slots = x[:, L.OWN_SIZE:].reshape(-1, self.k, self.slot_size)
        pair = th.cat([own.unsqueeze(1).expand(-1, self.k, -1), slots], dim=-1)
        s = (self.phi(pair) * valid.unsqueeze(-1)).sum(dim=1)
        return self.rho(th.cat([own, s], dim=1))


class Attn(nn.Module):
    """hlynr's AttentionExtractor plus a linear action head (as the policy's action net)."""

    def __init__(self, k: int, heads: int = 4, key_dim: int = 32, hidden: list[int] | None = None) -> None:
        super().__init__()
        from gymnasium import spaces

        from hlynr.algos.attention import AttentionExtractor

        size = L.OWN_SIZE + k * L.SLOT_SIZE
        self.ext = AttentionExtractor(spaces.Box(-10, 10, (size,), np.float32), L.entity_layout(k),
                                      heads=heads, key_dim=key_dim, mlp=hidden or [256, 256])
        self.out = nn.Linear(self.ext.features_dim, 2)

    def forward(self, x: th.Tensor, valid: th.Tensor) -> th.Tensor:
        return self.out(self.ext(x))


# ------------------------------------------------------------------------------------ study


def conflict_info(obs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """mvp's in-conflict flag per row, the smallest dcpa / R over its conflicting intruders, and
    the rows where mvp holds heading and speed (no conflict, but flying direct would make one)."""
    from gymnasium import spaces

    from hlynr.envs.atc import conflict as G
    from hlynr.envs.atc.mvp import MVPParams, make_mvp
    from hlynr.envs.atc.units import FT, NM

    k = (obs.shape[1] - L.OWN_SIZE) // L.SLOT_SIZE
    mvp = make_mvp(spaces.Box(-10, 10, (obs.shape[1],)), spaces.Box(-1, 1, (2,)), MVPParams())
    _, _, conf = mvp.resolution(obs)
    slots = obs[:, L.OWN_SIZE:].reshape(-1, k, L.SLOT_SIZE).astype(np.float64)
    valid = slots[..., L.SLOT["valid"].start] > 0.5
    rp = slots[..., L.SLOT["rel_pos"]] * L.REL_SCALE
    rv = slots[..., L.SLOT["rel_vel"]] * L.SPEED_SCALE
    dalt = slots[..., L.SLOT["dalt"].start] * L.ALT_SCALE
    dist = np.linalg.norm(rp, axis=-1)
    w2 = np.maximum((rv * rv).sum(-1), 1e-6)
    tcpa = -(rp * rv).sum(-1) / w2
    p = MVPParams()
    c = valid & G.conflicts(dist, tcpa, w2, dalt, p.pz_radius_nm * NM, p.pz_height_ft * FT, p.lookahead_s)
    dcpa = np.linalg.norm(rp + rv * tcpa[..., None], axis=-1) / (p.pz_radius_nm * NM)
    margin = np.where(c, dcpa, np.inf).min(axis=1)
    immediate = make_mvp(spaces.Box(-10, 10, (obs.shape[1],)), spaces.Box(-1, 1, (2,)),
                         MVPParams(resume="immediate"))
    hold = ~conf & (np.abs(immediate.act(obs) - mvp.act(obs)).max(axis=1) > 1e-6)
    return conf, margin, hold


def sort_slots(obs: np.ndarray) -> np.ndarray:
    """Slots reordered: valid first, then by dcpa (smallest first)."""
    k = (obs.shape[1] - L.OWN_SIZE) // L.SLOT_SIZE
    s = obs[:, L.OWN_SIZE:].reshape(-1, k, L.SLOT_SIZE)
    key = np.where(s[..., L.SLOT["valid"].start] > 0.5, 0.0, 1e6) + s[..., L.SLOT["dcpa"].start]
    idx = np.argsort(key, axis=1, kind="stable")
    out = obs.copy()
    out[:, L.OWN_SIZE:] = np.take_along_axis(s, idx[..., None], axis=1).reshape(len(obs), -1)
    return out


CPA_EXTRA = 3


def with_cpa(obs: np.ndarray) -> np.ndarray:
    """Raw rows with three numbers appended to every slot: the CPA vector (heading-up frame,
    / PZ radius) and 300 s / |tcpa| (clipped to 10), zero on invalid slots."""
    k = (obs.shape[1] - L.OWN_SIZE) // L.SLOT_SIZE
    s = obs[:, L.OWN_SIZE:].reshape(-1, k, L.SLOT_SIZE).astype(np.float64)
    rp, rv = s[..., L.SLOT["rel_pos"]] * L.REL_SCALE, s[..., L.SLOT["rel_vel"]] * L.SPEED_SCALE
    tcpa = -(rp * rv).sum(-1) / np.maximum((rv * rv).sum(-1), 1e-6)
    extra = np.concatenate([(rp + rv * tcpa[..., None]) / L.PZ_SCALE,
                            np.minimum(300.0 / np.maximum(np.abs(tcpa), 1e-3), 10.0)[..., None]], -1)
    extra *= s[..., L.SLOT["valid"]]
    out = np.concatenate([s, np.clip(extra, -10, 10)], -1).reshape(len(obs), -1)
    return np.concatenate([obs[:, :L.OWN_SIZE], out], 1).astype(np.float32)


def train(model: nn.Module, x: th.Tensor, valid: th.Tensor, y: th.Tensor, epochs: int,
          lr: float, batch: int, seed: int) -> None:
    g = th.Generator().manual_seed(seed)
    opt = th.optim.Adam(model.parameters(), lr=lr)
    sched = th.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    n = len(x)
    for _ in range(epochs):
        for idx in th.randperm(n, generator=g).split(batch):
            loss = ((model(x[idx], valid[idx]) - y[idx]) ** 2).sum(-1).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()


def predict(model: nn.Module, x: th.Tensor, valid: th.Tensor) -> np.ndarray:
    with th.no_grad():
        return th.cat([model(x[i:i + 8192], valid[i:i + 8192]) for i in range(0, len(x), 8192)]).numpy()


class Wrap(nn.Module):
    """A plain network that ignores the validity argument."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: th.Tensor, valid: th.Tensor) -> th.Tensor:
        return self.net(x)


def variants(k: int) -> dict[str, dict[str, Any]]:
    n = L.OWN_SIZE + k * L.SLOT_SIZE
    big = {"epochs": 20, "lr": 1e-3, "batch": 512}
    return {
        "mlp": {"input": "norm", "make": lambda: Wrap(mlp(n, [256, 256])), **big},
        "mlp_raw": {"input": "raw", "make": lambda: Wrap(mlp(n, [256, 256])), **big},
        "mlp_small": {"input": "norm", "make": lambda: Wrap(mlp(n, [64, 64])), **big},
        "mlp_big": {"input": "norm", "make": lambda: Wrap(mlp(n, [512, 512, 512], nn.ReLU)), **big},
        "mlp_e3": {"input": "norm", "make": lambda: Wrap(mlp(n, [256, 256])), **{**big, "epochs": 3}},
        "mlp_e60": {"input": "norm", "make": lambda: Wrap(mlp(n, [256, 256])), **{**big, "epochs": 60}},
        "mlp_sorted": {"input": "norm_sorted", "make": lambda: Wrap(mlp(n, [256, 256])), **big},
        "deepsets": {"input": "raw", "make": lambda: DeepSets(k), **big},
        "deepsets_norm": {"input": "norm", "make": lambda: DeepSets(k), **big},
        "deepsets_e60": {"input": "raw", "make": lambda: DeepSets(k), **{**big, "epochs": 60}},
        "deepsets_wide": {"input": "raw", "make": lambda: DeepSets(k, 256), **big},
        "deepsets_cpa": {"input": "cpa", "make": lambda: DeepSets(k, slot_size=L.SLOT_SIZE + CPA_EXTRA), **big},
        "attention": {"input": "raw", "make": lambda: Attn(k), **big},
        "attention_norm": {"input": "norm", "make": lambda: Attn(k), **big},
        "attention_norm_rawflags": {"input": "norm_rawflags", "make": lambda: Attn(k), **big},
    }


def fit(path: Path, only: list[str] | None, epochs: int | None, rows: int | None, seed: int) -> None:
    d = np.load(path)
    obs, act = d["obs"].astype(np.float32), d["act"].astype(np.float32)
    if rows:
        obs, act = obs[:rows], act[:rows]
    mean, var = d["mean"], d["var"]
    k = (obs.shape[1] - L.OWN_SIZE) // L.SLOT_SIZE
    conf, margin, hold = conflict_info(obs)
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(obs))
    n_val = len(obs) // 10
    te, tr = perm[:n_val], perm[n_val:]
    flag_cols = np.zeros(obs.shape[1], bool)
    flag_cols[[L.OWN_SIZE + i * L.SLOT_SIZE + L.SLOT["valid"].start for i in range(k)]] = True
    norm = np.clip((obs - mean) / np.sqrt(var + 1e-8), -10, 10).astype(np.float32)
    sorted_norm = np.clip((sort_slots(obs) - mean) / np.sqrt(var + 1e-8), -10, 10).astype(np.float32)
    inputs = {"raw": obs, "norm": norm, "norm_sorted": sorted_norm, "cpa": with_cpa(obs),
              "norm_rawflags": np.where(flag_cols, obs, norm)}
    valid = th.as_tensor(obs[:, L.OWN_SIZE:].reshape(-1, k, L.SLOT_SIZE)[..., L.SLOT["valid"].start] > 0.5,
                         dtype=th.float32)
    print(f"{len(obs)} rows ({len(tr)} train, {n_val} held out); mvp resolves a conflict on "
          f"{conf.mean():.1%}, holds on {hold.mean():.1%}; "
          f"labels at the clip: {(np.abs(act) >= 0.999).any(1).mean():.1%} of rows")
    print("| variant | input | epochs | agreement all | on conflict rows | conflict rows at 0.25 | holding "
          "| flying direct | "
          "MAE heading (conflict) | MAE speed (conflict) | conflict rows by dcpa/R: <0.5, 0.5-0.9, 0.9-1.01 | fit s |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|")
    y = th.as_tensor(act)
    for name, v in variants(k).items():
        if only and name not in only:
            continue
        th.manual_seed(seed)
        model = v["make"]()
        x = th.as_tensor(inputs[v["input"]])
        ep = epochs if epochs and name not in ("mlp_e3", "mlp_e60") else v["epochs"]
        t0 = time.perf_counter()
        train(model, x[tr], valid[tr], y[tr], ep, v["lr"], v["batch"], seed)
        dt = time.perf_counter() - t0
        pred = np.clip(predict(model, x[te], valid[te]), -1, 1)
        err = np.abs(pred - act[te])
        ok = (err <= TOL).all(1)
        c, m = conf[te], margin[te]
        bins = [c & (m < 0.5), c & (m >= 0.5) & (m < 0.9), c & (m >= 0.9)]
        by = ", ".join(f"{ok[b].mean():.1%} ({b.sum()})" if b.any() else "-" for b in bins)
        print(f"| {name} | {v['input']} | {ep} | {ok.mean():.1%} | {ok[c].mean():.1%} "
              f"| {(err[c] <= 0.25).all(1).mean():.1%} | {ok[hold[te]].mean():.1%} "
              f"| {ok[~c & ~hold[te]].mean():.1%} "
              f"| {err[c, 0].mean():.3f} | {err[c, 1].mean():.3f} | {by} | {dt:.0f} |", flush=True)


def sensitivity(path: Path, rows: int = 60000, seed: int = 0) -> None:
    """Share of conflict rows whose mvp action moves by > 0.1 under small input noise."""
    from gymnasium import spaces

    from hlynr.envs.atc.mvp import MVPParams, make_mvp

    obs = np.load(path)["obs"][:rows].astype(np.float64)
    conf, _, _ = conflict_info(obs.astype(np.float32))
    mvp = make_mvp(spaces.Box(-10, 10, (obs.shape[1],)), spaces.Box(-1, 1, (2,)), MVPParams())
    rng = np.random.default_rng(seed)
    oc = obs[conf]
    ref = mvp.act(oc)
    k = (obs.shape[1] - L.OWN_SIZE) // L.SLOT_SIZE
    for eps in (1e-4, 1e-3, 1e-2):
        p = oc.copy()
        s = p[:, L.OWN_SIZE:].reshape(-1, k, L.SLOT_SIZE)
        moved = slice(L.SLOT["rel_pos"].start, L.SLOT["rel_vel"].stop)
        s[..., moved] += rng.normal(0, eps, s[..., moved].shape) * (s[..., L.SLOT["valid"]] > 0.5)
        p[:, L.OWN_SIZE:] = s.reshape(len(p), -1)
        d = np.abs(mvp.act(p) - ref)
        print(f"s.d. {eps * 20:.3f} NM / {eps * 250:.2f} kt: action moves > 0.1 on {(d > 0.1).any(1).mean():.1%} "
              f"of {len(oc)} conflict rows (speed axis {(d[:, 1] > 0.1).mean():.1%})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("collect")
    c.add_argument("out", type=Path)
    c.add_argument("--steps", type=int, default=400)
    c.add_argument("--seed", type=int, default=0)
    f = sub.add_parser("fit")
    f.add_argument("data", type=Path)
    f.add_argument("--only", nargs="*")
    f.add_argument("--epochs", type=int)
    f.add_argument("--rows", type=int)
    f.add_argument("--seed", type=int, default=0)
    sn = sub.add_parser("sensitivity")
    sn.add_argument("data", type=Path)
    args = ap.parse_args()
    th.set_num_threads(1)
    if args.cmd == "collect":
        collect(args.out, args.steps, args.seed)
    elif args.cmd == "sensitivity":
        sensitivity(args.data)
    else:
        fit(args.data, args.only, args.epochs, args.rows, args.seed)


if __name__ == "__main__":
    main()
