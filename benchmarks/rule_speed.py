"""Seconds per training epoch of every gradient rule, and the ratio to BPTT, measured in one run.

Two networks (../shared/BENCHMARKS.md, "Per-rule cost"):

- ``yinyang``: the Yin-Yang task's default network and data (5000 training samples, the task's
  batch size), one epoch through the runner's own minibatch step (encode, simulate, loss,
  assign_grads, optimizer step);
- ``shd``: an SHD-shaped network 700 -> 256 recurrent -> 20, T = 100, Bernoulli(0.05) input
  spikes, batch 64, ``--shd-batches`` minibatches per "epoch" (the time is scaled to the 8156
  training samples of SHD).

Each rule that cannot train a network says so in one line (its support matrix) instead of a time.
``--neuron alif`` repeats the measurement with ALIF hidden neurons. ``--shared`` runs every
measurement beside two other 2-thread torch matmul jobs (started here, stopped at the end) and
prints the slowdown against the idle run and against a fair share.

Usage::

    python benchmarks/rule_speed.py [--rules bptt,eprop,...] [--repeats 2] [--shared]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

import torch

from snnlearn.experiments import registry
from snnlearn.layers import build_network
from snnlearn.learning.base import check_support
from snnlearn.neurons import ALIFParams, LIFParams, LIParams

GRADIENT_RULES = ("bptt", "superspike", "eprop", "eventprop", "decolle", "fa", "dfa")
SHD_TRAIN = 8156

_HOG = ("import torch, time\n"
        "torch.set_num_threads(2)\n"
        "a = torch.randn(1024, 1024)\n"
        "end = time.time() + {seconds}\n"
        "while time.time() < end:\n"
        "    a @ a\n")


def _yinyang(rule_id: str, neuron: str):
    from snnlearn.experiments.runner import _neuron_params
    from snnlearn.tasks.yinyang import YinYang

    task = YinYang()
    d = task.defaults
    net = build_network(task.n_in, d.hidden, task.n_out, dt=task.dt,
                        neuron=_neuron_params(neuron, d.neuron), readout=d.readout,
                        recurrent=d.recurrent, gain=d.gain,
                        generator=torch.Generator().manual_seed(0))
    data = task.split("train")
    g = torch.Generator().manual_seed(1)
    batches = []
    for i in range(0, len(data), d.batch_size):
        x = task.encode(data.inputs[i:i + d.batch_size], generator=g)
        batches.append((x, data.labels[i:i + d.batch_size]))
    return net, batches, task.loss, d.lr, 1.0


def _shd(rule_id: str, neuron: str, n_batches: int):
    from snnlearn.losses import max_membrane_cross_entropy

    lif = LIFParams(tau_mem=20e-3, tau_syn=10e-3)
    hidden = ALIFParams(lif=lif) if neuron == "alif" else lif
    net = build_network(700, [256], 20, dt=1e-3, neuron=hidden,
                        readout=LIParams(tau_mem=20e-3, tau_syn=10e-3), recurrent=True,
                        gain=4.0, generator=torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(1)
    batches = [((torch.rand(100, 64, 700, generator=g) < 0.05).float(),
                torch.randint(0, 20, (64,), generator=g)) for _ in range(n_batches)]
    return net, batches, max_membrane_cross_entropy, 1e-3, SHD_TRAIN / (64 * n_batches)


def epoch_seconds(rule_id: str, network: str, neuron: str, n_batches: int) -> float | str:
    """Seconds of one training epoch (the SHD epoch extrapolated from ``n_batches``)."""
    make = _yinyang if network == "yinyang" else (lambda r, n: _shd(r, n, n_batches))
    net, batches, loss_fn, lr, scale = make(rule_id, neuron)
    rule = registry.make_rule(rule_id)
    try:
        check_support(rule_id, rule.supports, net)
        rule.prepare(net, generator=torch.Generator().manual_seed(2))
    except ValueError as err:
        return f"refused: {str(err).split(';')[0]}"
    opt = rule.configure_optimizer(net, lr)

    def step(x, y):
        rollout = rule.simulate(net, x)
        loss = loss_fn(rollout.outputs, y)
        opt.zero_grad(set_to_none=True)
        rule.assign_grads(net, rollout, loss, target=y)
        rule.optimizer_step(net, opt)
        net.constrain_()
        rule.after_step(net)

    step(*batches[0])  # warm-up: compilation, caches
    start = time.perf_counter()
    for x, y in batches:
        step(x, y)
    return (time.perf_counter() - start) * scale


def measure(rules: list[str], repeats: int, n_batches: int) -> dict[tuple[str, str, str], object]:
    results: dict[tuple[str, str, str], object] = {}
    for network in ("yinyang", "shd"):
        for neuron in ("lif", "alif"):
            for rule_id in rules:
                times = [epoch_seconds(rule_id, network, neuron, n_batches)
                         for _ in range(repeats)]
                numeric = [t for t in times if isinstance(t, float)]
                results[(network, neuron, rule_id)] = min(numeric) if numeric else times[0]
                print(f"  {network:8s} {neuron:5s} {rule_id:11s} "
                      f"{results[(network, neuron, rule_id)]}", file=sys.stderr, flush=True)
    return results


def table(results: dict, rules: list[str], title: str) -> str:
    lines = [f"### {title}", "",
             "| network | neuron | " + " | ".join(rules) + " |",
             "|---|---|" + "---|" * len(rules)]
    for network in ("yinyang", "shd"):
        for neuron in ("lif", "alif"):
            base = results.get((network, neuron, "bptt"))
            lif_base = results.get((network, "lif", "bptt"))
            cells = []
            for r in rules:
                t = results[(network, neuron, r)]
                if not isinstance(t, float):
                    cells.append(str(t))
                    continue
                ratio = f"{t / base:.2f}x bptt" if isinstance(base, float) else ""
                if neuron == "alif" and r == "bptt" and isinstance(lif_base, float):
                    ratio = f"{t / lif_base:.2f}x LIF"
                cells.append(f"{t:.2f} s ({ratio})")
            lines.append(f"| {network} | {neuron} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rules", default=",".join(GRADIENT_RULES))
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--shd-batches", type=int, default=4)
    parser.add_argument("--shared", action="store_true",
                        help="also measure beside two 2-thread torch jobs")
    args = parser.parse_args()
    rules = args.rules.split(",")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{os.cpu_count()} cores", flush=True)
    idle = measure(rules, args.repeats, args.shd_batches)
    print(table(idle, rules, "idle"))
    if not args.shared:
        return
    hogs = [subprocess.Popen([sys.executable, "-c", _HOG.format(seconds=3600)])
            for _ in range(2)]
    try:
        shared = measure(rules, args.repeats, args.shd_batches)
    finally:
        for h in hogs:
            h.kill()
    print(table(shared, rules, "beside two 2-thread torch jobs"))
    cores = os.cpu_count() or 2
    fair = (2 + 2 + torch.get_num_threads()) / cores  # threads wanting the cores / cores
    print(f"\nslowdown against idle (a fair share is about {fair:.1f}x):\n")
    for key, t in shared.items():
        base = idle.get(key)
        if isinstance(t, float) and isinstance(base, float):
            ratio = t / base
            print(f"- {'/'.join(key)}: {ratio:.1f}x ({ratio / fair:.2f} of the fair share)")


if __name__ == "__main__":
    main()
