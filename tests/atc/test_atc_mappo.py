"""MAPPO and PPO on the batched ATC engine: the actor never reads the global state, and the
shipped batched configs train (curriculum, evaluation, checkpoints, streak stop) and evaluate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from multiagent_testing import assert_actor_ignores_critic_rows

from hlynr.algos.centralised import MAPPO
from hlynr.cli.common import run_main
from hlynr.envs.atc import make_batched_atc

KW = {"scenario": "canonical_crossing", "max_steps": 12}
REPO = Path(__file__).resolve().parents[2]


def test_changing_the_global_state_changes_the_value_never_the_action() -> None:
    venv = make_batched_atc(4, seed=0, **KW)
    model = MAPPO("MlpPolicy", venv, n_steps=16, batch_size=128, n_epochs=2, seed=0, device="cpu",
                  policy_kwargs={"net_arch": [32]})
    model.learn(2 * 16 * venv.num_envs)
    assert len(model.ep_info_buffer) > 0  # team episodes ended during training
    assert_actor_ignores_critic_rows(model, venv)


def _shrunk(name: str, tmp_path: Path, total: int) -> Path:
    """The shipped config ``name`` made small: every callback still runs."""
    cfg = yaml.safe_load((REPO / f"configs/atc/{name}.yaml").read_text())
    cfg.update(total_timesteps=total, runs_dir=str(tmp_path / "runs"))
    cfg["env"].update(n_envs=4, kwargs={**cfg["env"]["kwargs"], "max_steps": 25})
    cfg["algo"]["hyperparams"].update(n_steps=16, batch_size=192, n_epochs=1)
    cfg["algo"]["policy_kwargs"]["net_arch"] = [16]
    for cb in cfg["callbacks"]:
        key = next(iter(cb))
        if key == "evaluation":
            cb[key].update(every=total // 2, episodes=2, n_envs=2)
        elif key == "checkpoint":
            cb[key]["every"] = total // 2
        elif key == "curriculum":
            cb[key].update(mode="schedule", at=[1000, 2000, 3000, 4000, 5000])
            cb[key].pop("threshold"), cb[key].pop("window")
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.mark.parametrize("name", ["mappo_batched", "ppo_batched"])
def test_shipped_batched_config_trains_and_evaluates_next_to_mvp(name: str, tmp_path: Path) -> None:
    from hlynr.cli.evaluate import main as evaluate_main
    from hlynr.cli.train import main as train_main

    total = 16 * 4 * 6 * 16  # 16 rollouts of 16 steps x 24 aircraft rows = 6144 aircraft-steps
    assert run_main(train_main, ["--config", str(_shrunk(name, tmp_path, total))]) == 0
    run = next((tmp_path / "runs").glob("*/*"))
    recs = [json.loads(line) for line in (run / "progress.jsonl").read_text().splitlines()]
    evals = [r for r in recs if r.get("type") == "eval"]
    assert len(evals) == 2 and {"conflict_free", "los_events", "path_efficiency"} <= set(evals[0]["eval_info"])
    assert max(r.get("stage", 0) for r in recs) == 5  # the curriculum reached random traffic
    assert len(list((run / "checkpoints").glob("step_*/model.zip"))) == 2
    assert (run / "best" / "model.zip").exists()
    out = tmp_path / "scores.json"
    assert run_main(evaluate_main, [str(run), "--baseline", "mvp", "-n", "3", "--json", str(out)]) == 0
    rows = {r["label"]: r for r in json.loads(out.read_text())["results"]}
    assert {"best", "baseline:mvp"} <= set(rows)
    for r in rows.values():  # paired: every row on the same seeded episodes
        assert [e["seed"] for e in r["episodes"]] == [0, 1, 2]
        assert r["info"]["n_aircraft"]["mean"] == 6.0  # scored at the final stage (random, 6)
