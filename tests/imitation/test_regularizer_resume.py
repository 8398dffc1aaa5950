"""The regulariser of every new family inside a run: schedule, checkpoint state, resume."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import imitation_testing as it
import pytest

from hlynr.config import validate_config
from hlynr.training.runner import resume_run, start_run

TOTAL = 768
ROLLOUT = 128  # on-policy: 32 steps x 4 envs
FAMILIES = {
    "RecurrentPPO-gru": ({"name": "RecurrentPPO",
                          "hyperparams": {"n_steps": 32, "batch_size": 64, "n_epochs": 1},
                          "policy_kwargs": {"net_arch": [16], "lstm_hidden_size": 8,
                                            "rnn_type": "gru"}}, "kl", 2, 0),
    "SAC": ({"name": "SAC", "hyperparams": {"learning_starts": 64, "buffer_size": 2000,
                                            "batch_size": 32},
             "policy_kwargs": {"net_arch": [16]}}, "kl", 1, 0),
    "TD3": ({"name": "TD3", "hyperparams": {"learning_starts": 64, "buffer_size": 2000,
                                            "batch_size": 32},
             "policy_kwargs": {"net_arch": [16]}}, "mse", 1, 4),
    "AsymmetricPPO": ({"name": "AsymmetricPPO",
                       "hyperparams": {"n_steps": 32, "batch_size": 64, "n_epochs": 1},
                       "policy_kwargs": {"net_arch": [16]}}, "kl", 2, 0),
}
"""family: (algo section, regulariser loss, actor steps per train() call, timesteps by which
the last regularised update may move after a resume: TD3 steps its actor every second
gradient step, and the resumed run skips one gradient step, which shifts that parity)."""


def _states(run: Path) -> dict[int, dict]:
    out = {}
    for ckpt in sorted((run / "checkpoints").iterdir()):
        meta = json.loads((ckpt / "meta.json").read_text())
        out[meta["timesteps"]] = meta["state"]["pretrain_regularizer"]
    return out


@pytest.mark.parametrize("family", list(FAMILIES))
def test_regularizer_follows_its_schedule_and_its_state_survives_a_resume(
        runs_dir: Path, family: str) -> None:
    algo, loss, per_train, slack = FAMILIES[family]
    data = (it.rows_config if family == "AsymmetricPPO" else it.follow_config)(
        total_timesteps=TOTAL, callbacks=[{"checkpoint": {"every": 384}}])
    data["algo"] = algo
    data["pretrain"].update(steps=400, epochs=2, regularizer={
        "loss": loss, "weight": {"schedule": "linear", "start": 1.0, "end": 0.0}})
    run = start_run(validate_config(data), runs_dir=runs_dir).run_dir
    full = _states(run)
    assert sorted(full) == [384, 768]
    for t, state in full.items():
        # the weight of the last regularised update: 1 - t_update / total, t_update within
        # the last rollout (off-policy: the last few steps) up to the checkpoint
        t_update = (1.0 - state["weight"]) * TOTAL
        assert -1e-6 <= t - t_update <= ROLLOUT + 1e-6, (t, state)
        assert state["loss"] > 0
    assert full[384]["updates"] > per_train
    shutil.rmtree(max((run / "checkpoints").iterdir()))
    resume_run(run)
    again = _states(run)
    assert again[768]["weight"] == pytest.approx(full[768]["weight"], abs=slack / TOTAL + 1e-12)
    # restored, the count goes on from the checkpoint's; the resumed process skips at most the
    # one update that the checkpoint was taken before
    assert 0 <= full[768]["updates"] - again[768]["updates"] <= per_train
