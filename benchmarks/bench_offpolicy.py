"""hlynr's SAC, TD3 and TQC against SB3's and sb3-contrib's on Pendulum-v1: update and end to end.

Both implementations of each algorithm run in the same process, on the same replay buffer and
hyperparameters (batch 256, one gradient step per env step, 1 torch thread), interleaved round by
round so that load from other processes on a shared machine hits both alike. For each case it
prints:

* **update**: microseconds of CPU time (``time.process_time``, which a busy machine inflates far
  less than wall time) per gradient step of ``train()`` on a full buffer, the median of the rounds;
* **floor**: the matrix-product FLOPs of one gradient step (counted from the operations each
  implementation dispatches) divided by this machine's matmul speed, measured in the same run on
  ``(256, h) x (h, h)`` products and their batched form, the best of the two; the update can
  never be faster than this;
* **end to end**: env steps per second of ``learn()`` (collection and one update per step),
  interleaved in chunks with each model's random state kept apart;
* with ``--compile``, what ``torch.compile`` does to the update on this CPU: TQC's quantile loss
  compiled against eager, and the critics' forward and backward pass compiled (through
  autograd) against hlynr's hand-written pass.

    python benchmarks/bench_offpolicy.py                    # every algorithm, [256, 256] and [64, 64]
    python benchmarks/bench_offpolicy.py --algos SAC --archs 64 --rounds 3 --e2e-steps 0
    python benchmarks/bench_offpolicy.py --compile
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import subprocess
import time
from typing import Any

import gymnasium as gym
import sb3_contrib
import stable_baselines3
import torch as th
from bench_recurrent_ppo import restore_rng, save_rng  # the interleaving's random states
from stable_baselines3.common.logger import configure
from torch.utils._python_dispatch import TorchDispatchMode

from hlynr.algos.offpolicy import SAC, TD3, TQC

PAIRS = {"SAC": (stable_baselines3.SAC, SAC), "TD3": (stable_baselines3.TD3, TD3), "TQC": (sb3_contrib.TQC, TQC)}
MATMULS = {"aten.mm.default": (0, 1), "aten.addmm.default": (1, 2), "aten.bmm.default": (0, 1),
           "aten.baddbmm.default": (1, 2)}
BATCH = 256


class CountFlops(TorchDispatchMode):
    """Counts the multiply-add FLOPs (2 per multiply-add) of the matrix products dispatched."""

    def __init__(self) -> None:
        super().__init__()
        self.flops = 0

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        where = MATMULS.get(str(func))
        if where is not None:
            a, b = args[where[0]], args[where[1]]
            batch = a.shape[0] if a.dim() == 3 else 1
            self.flops += 2 * batch * a.shape[-2] * a.shape[-1] * b.shape[-1]
        return func(*args, **(kwargs or {}))


def make(cls: type, arch: int, learning_starts: int, seed: int = 0) -> Any:
    model = cls("MlpPolicy", gym.make("Pendulum-v1"), batch_size=BATCH, learning_starts=learning_starts,
                seed=seed, device="cpu", policy_kwargs={"net_arch": [arch, arch]})
    model.set_logger(configure(None, []))
    return model


def cpu_us(fn: Any, repeats: int) -> float:
    start = time.process_time()
    for _ in range(repeats):
        fn()
    return (time.process_time() - start) / repeats * 1e6


def matmul_gflops(arch: int) -> float:
    """This machine's matmul speed on the update's main shapes (the best of mm and bmm)."""
    a, w = th.randn(BATCH, arch), th.randn(arch, arch)
    a2, w2 = th.randn(2, BATCH, arch), th.randn(2, arch, arch)
    best = 0.0
    for fn, flops in ((lambda: a @ w, 2 * BATCH * arch * arch), (lambda: th.bmm(a2, w2), 4 * BATCH * arch * arch)):
        repeats = max(20, int(2e9 / flops))
        cpu_us(fn, 10)
        best = max(best, flops / cpu_us(fn, repeats) / 1e3)
    return best


def update_case(name: str, arch: int, rounds: int, steps: int) -> dict[str, Any]:
    """Median CPU microseconds per gradient step and FLOPs per step of both implementations."""
    ref_cls, fast_cls = PAIRS[name]
    ref = make(ref_cls, arch, learning_starts=2000).learn(2000)  # a full enough buffer, no update yet
    fast = make(fast_cls, arch, learning_starts=2000)
    fast.policy.load_state_dict(ref.policy.state_dict())
    fast.replay_buffer = copy.deepcopy(ref.replay_buffer)
    start = time.perf_counter()
    fast.train(gradient_steps=1, batch_size=BATCH)  # TQC compiles its loss here
    first_call_s = time.perf_counter() - start
    ref.train(gradient_steps=1, batch_size=BATCH)
    out: dict[str, Any] = {"first_call_s": first_call_s}
    for label, model in (("sb3", ref), ("hlynr", fast)):
        with CountFlops() as counter:
            model.train(gradient_steps=1, batch_size=BATCH)
        out[f"{label}_flops"] = counter.flops
    times: dict[str, list[float]] = {"sb3": [], "hlynr": []}
    for _ in range(rounds):
        for label, model in (("sb3", ref), ("hlynr", fast)):
            times[label].append(cpu_us(lambda m=model: m.train(gradient_steps=1, batch_size=BATCH), steps))
    out.update({label: statistics.median(values) for label, values in times.items()})
    return out


def end_to_end(name: str, arch: int, total: int, chunk: int) -> dict[str, float]:
    """Env steps per second of ``learn()`` (wall time), both models interleaved chunk by chunk."""
    learning_starts = min(1000, total // 2)
    models = []
    for cls in PAIRS[name]:
        model = make(cls, arch, learning_starts)
        model.learn(learning_starts)  # random exploration, no update: not timed
        models.append(model)
    timed = total - learning_starts
    seconds = interleaved_learn(models, timed, chunk)
    return {"sb3": timed / seconds[0], "hlynr": timed / seconds[1]}


def interleaved_learn(models: list[Any], total: int, chunk: int) -> list[float]:
    """Wall seconds each model's ``learn()`` took for ``total`` more timesteps, the models run
    chunk by chunk in turn, each with its own random state (load hits them alike)."""
    states = [save_rng() for _ in models]
    seconds = [0.0] * len(models)
    done = 0
    while done < total:
        steps = min(chunk, total - done)
        for k, model in enumerate(models):
            restore_rng(states[k])
            start = time.perf_counter()
            model.learn(steps, reset_num_timesteps=False)
            seconds[k] += time.perf_counter() - start
            states[k] = save_rng()
        done += steps
    return seconds


def compile_check(arch: int, rounds: int, steps: int) -> None:
    """torch.compile on this CPU: TQC's loss, and the critics' forward and backward pass."""
    ref = make(TQC, arch, learning_starts=2000).learn(2000)
    times: dict[str, list[float]] = {"compiled": [], "eager": []}
    ref.train(1, BATCH)
    for _ in range(rounds):
        for label, flag in (("compiled", True), ("eager", False)):
            ref.compile_critic_loss = flag
            times[label].append(cpu_us(lambda: ref.train(gradient_steps=1, batch_size=BATCH), steps))
    print(f"  TQC [{arch}, {arch}] update: quantile loss compiled {statistics.median(times['compiled']):.0f} us, "
          f"eager {statistics.median(times['eager']):.0f} us per gradient step")

    from hlynr.algos.mlp import Saved
    from hlynr.algos.offpolicy.base import fast_nets

    model = make(SAC, arch, learning_starts=2000).learn(2000)
    model.train(1, BATCH)
    nets = fast_nets(model)
    assert nets is not None
    x, y = th.randn(BATCH, 4), th.randn(BATCH, 1)

    def by_hand() -> None:
        saved = Saved()
        out = nets.critic_mlp.forward(nets.critic.views, x, saved)
        nets.critic_mlp.backward(nets.critic.views, saved, 0.5 / BATCH * (2 * (out - y)), nets.critic.grad_views)

    leaves = [v.detach().clone().requires_grad_(True) for v in nets.critic.views]

    def loss(weights: list[th.Tensor]) -> th.Tensor:
        return 0.5 * ((nets.critic_mlp.forward(weights, x) - y) ** 2).mean(dim=(1, 2)).sum()

    compiled = th.compile(loss, dynamic=False)

    def through_compile() -> None:
        th.autograd.grad(compiled(leaves), leaves)

    through_compile()
    times = {"by hand": [], "compiled": []}
    for _ in range(rounds):
        times["by hand"].append(cpu_us(by_hand, steps * 5))
        times["compiled"].append(cpu_us(through_compile, steps * 5))
    print(f"  critics [{arch}, {arch}] forward+backward: by hand {statistics.median(times['by hand']):.0f} us, "
          f"torch.compile {statistics.median(times['compiled']):.0f} us")


def load() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "uptime unavailable"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--algos", nargs="+", default=list(PAIRS), choices=list(PAIRS))
    parser.add_argument("--archs", nargs="+", type=int, default=[256, 64])
    parser.add_argument("--rounds", type=int, default=5, help="interleaved timing rounds per case")
    parser.add_argument("--steps", type=int, default=20, help="gradient steps per round")
    parser.add_argument("--e2e-steps", type=int, default=3000, help="env steps of learn() per model (0: skip)")
    parser.add_argument("--compile", action="store_true", help="also measure torch.compile on this CPU")
    args = parser.parse_args()
    th.set_num_threads(1)
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               "unknown CPU") if os.path.exists("/proc/cpuinfo") else "unknown CPU"
    print(f"torch {th.__version__}, SB3 {stable_baselines3.__version__}, sb3-contrib {sb3_contrib.__version__}, "
          f"1 torch thread, {cpu}")
    print(f"load before: {load()}")
    header = (f"{'case':<16} {'SB3 us/step':>11} {'hlynr us/step':>13} {'speed-up':>8} {'floor us':>9} "
              f"{'SB3 MFLOP':>9} {'hlynr MFLOP':>11} {'SB3 steps/s':>11} {'hlynr steps/s':>13} {'speed-up':>8}")
    print(header)
    for arch in args.archs:
        gflops = matmul_gflops(arch)
        for name in args.algos:
            up = update_case(name, arch, args.rounds, args.steps)
            floor = up["hlynr_flops"] / gflops / 1e3
            e2e = end_to_end(name, arch, args.e2e_steps, 250) if args.e2e_steps else None
            e2e_cols = (f"{e2e['sb3']:>11.0f} {e2e['hlynr']:>13.0f} {e2e['hlynr'] / e2e['sb3']:>7.2f}x" if e2e
                        else f"{'-':>11} {'-':>13} {'-':>8}")
            print(f"{name + f' [{arch}, {arch}]':<16} {up['sb3']:>11.0f} {up['hlynr']:>13.0f} "
                  f"{up['sb3'] / up['hlynr']:>7.2f}x {floor:>9.0f} {up['sb3_flops'] / 1e6:>9.1f} "
                  f"{up['hlynr_flops'] / 1e6:>11.1f} {e2e_cols}", flush=True)
            if up["first_call_s"] > 2:
                print(f"  (hlynr's first train() took {up['first_call_s']:.1f} s: compiling)")
        print(f"  matmul speed measured for [{arch}, {arch}]: {gflops:.0f} GFLOP/s")
    if args.compile:
        print("torch.compile on this CPU:")
        for arch in args.archs:
            compile_check(arch, args.rounds, args.steps)
    print(f"load after: {load()}")


if __name__ == "__main__":
    main()
