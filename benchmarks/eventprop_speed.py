"""Seconds per minibatch step of EventProp's modes against BPTT on the SHD-shaped network.

700 -> 256 -> 20 (recurrent, then feed-forward), LIF ``tau_mem`` 20 ms, ``tau_syn``
10 ms, Bernoulli(0.05) input spikes, max-membrane cross-entropy, Adam; one step = simulate,
loss, assign_grads, optimizer step. Every rule is timed in the same run (the fastest of
``--repeats`` steps after one warm-up step, the rules interleaved step by step), so the ratios
are comparable on a shared machine.
The exact mode refuses recurrent layers, so it is timed on the feed-forward network only, and
only up to ``--exact-max-steps``.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/eventprop_speed.py [--steps 100,1000] [--batch 32]
"""

from __future__ import annotations

import argparse
import time

import torch

from snnlearn.experiments import registry
from snnlearn.layers import build_network
from snnlearn.learning.base import check_support
from snnlearn.losses import max_membrane_cross_entropy
from snnlearn.neurons import LIFParams, LIParams


def make_step(rule_id: str, options: dict, n_steps: int, batch: int, recurrent: bool):
    """A closure running one training step of the rule, or the rule's refusal (a string)."""
    lif = LIFParams(tau_mem=20e-3, tau_syn=10e-3)
    net = build_network(700, [256], 20, dt=1e-3, neuron=lif,
                        readout=LIParams(tau_mem=20e-3, tau_syn=10e-3), recurrent=recurrent,
                        gain=4.0, generator=torch.Generator().manual_seed(0))
    rule = registry.make_rule(rule_id, options)
    try:
        check_support(rule_id, rule.supports, net)
        rule.prepare(net, generator=torch.Generator().manual_seed(2))
    except ValueError as err:
        return f"refused ({str(err).split(';')[0]})"
    g = torch.Generator().manual_seed(1)
    x = (torch.rand(n_steps, batch, 700, generator=g) < 0.05).float()
    y = torch.randint(0, 20, (batch,), generator=g)
    opt = rule.configure_optimizer(net, 1e-3)

    def step() -> float:
        start = time.perf_counter()
        rollout = rule.simulate(net, x)
        loss = max_membrane_cross_entropy(rollout.outputs, y)
        opt.zero_grad(set_to_none=True)
        rule.assign_grads(net, rollout, loss, target=y)
        opt.step()
        return time.perf_counter() - start

    step()  # warm-up: compilation, caches
    return step


def timed(steps: dict, repeats: int) -> dict:
    """The fastest of ``repeats`` steps of each rule, the rules interleaved step by step (so a
    load that comes and goes on a shared machine touches them alike)."""
    times: dict = {k: [] for k, v in steps.items() if callable(v)}
    for _ in range(repeats):
        for k in times:
            times[k].append(steps[k]())
    return {k: (min(times[k]) if k in times else v) for k, v in steps.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", default="100,1000")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--exact-max-steps", type=int, default=100,
                        help="time the exact mode only up to this T (it is slow)")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch}")
    print("| network | T | bptt | eventprop grid | eventprop exact |")
    print("|---|---|---|---|---|")
    rules = {"bptt": ("bptt", {}), "grid": ("eventprop", {"mode": "grid"}),
             "exact": ("eventprop", {"mode": "exact"})}
    for recurrent in (True, False):
        for n_steps in (int(s) for s in args.steps.split(",")):
            steps = {}
            for key, (rule_id, options) in rules.items():
                if key == "exact" and n_steps > args.exact_max_steps:
                    steps[key] = f"not run (T > {args.exact_max_steps})"
                    continue
                steps[key] = make_step(rule_id, options, n_steps, args.batch, recurrent)
            result = timed(steps, args.repeats)
            base = result["bptt"]
            cells = [f"{t:.3f} s ({t / base:.2f}x)" if isinstance(t, float) else t
                     for t in result.values()]
            kind = "recurrent" if recurrent else "feed-forward"
            print(f"| 700-256-20 {kind} | {n_steps} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
