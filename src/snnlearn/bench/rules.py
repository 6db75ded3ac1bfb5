"""The per-rule cost table: seconds per training epoch of every gradient rule, ratio to BPTT.

Two networks (../shared/BENCHMARKS.md, "Per-rule cost"), each built here the same way for every
rule, with the same initial weights and the same batches:

- ``yinyang``: the Yin-Yang task's default network and data (5000 training samples, the task's
  batch size); one epoch through the runner's minibatch step (simulate, loss, ``assign_grads``,
  the rule's optimizer step, ``constrain_``, ``after_step``);
- ``shd``: an SHD-shaped network 700 -> 256 recurrent -> 20, ``T = 100``, Bernoulli(0.05) input
  spikes, batch 64, ``n_batches`` minibatches timed and scaled to SHD's 8156 training samples.

Each measurement starts with one untimed step (compilation, caches). A rule that cannot train a
network gives its one-line refusal (its support matrix) instead of a time. Records:
``{"network", "neuron", "rule", "device", "backend", "seconds", "refused"}``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import torch

from snnlearn.kernels.dispatch import resolve_backend

__all__ = ["GRADIENT_RULES", "NETWORKS", "SHD_TRAIN", "epoch_seconds", "run_rules",
           "rules_markdown"]

GRADIENT_RULES: tuple[str, ...] = ("bptt", "superspike", "eprop", "eventprop", "decolle", "fa",
                                   "dfa")
"""The rules of the table: every rule that trains by minibatch gradient steps."""

NETWORKS: tuple[str, ...] = ("yinyang", "shd")
SHD_TRAIN = 8156
"""Training samples of SHD: the ``shd`` epoch is scaled to this many."""


def _yinyang(neuron: str, device: torch.device, n_batches: int | None):
    from snnlearn.experiments.runner import _neuron_params
    from snnlearn.layers import build_network
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
        batches.append((x.to(device), data.labels[i:i + d.batch_size].to(device)))
    scale = 1.0
    if n_batches is not None and n_batches < len(batches):
        scale, batches = len(batches) / n_batches, batches[:n_batches]
    return net.to(device), batches, task.loss, d.lr, scale


def _shd(neuron: str, device: torch.device, n_batches: int | None):
    from snnlearn.layers import build_network
    from snnlearn.losses import max_membrane_cross_entropy
    from snnlearn.neurons import ALIFParams, LIFParams, LIParams

    n = n_batches or 4
    lif = LIFParams(tau_mem=20e-3, tau_syn=10e-3)
    hidden = ALIFParams(lif=lif) if neuron == "alif" else lif
    net = build_network(700, [256], 20, dt=1e-3, neuron=hidden,
                        readout=LIParams(tau_mem=20e-3, tau_syn=10e-3), recurrent=True,
                        gain=4.0, generator=torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(1)
    batches = [((torch.rand(100, 64, 700, generator=g) < 0.05).float().to(device),
                torch.randint(0, 20, (64,), generator=g).to(device)) for _ in range(n)]
    return net.to(device), batches, max_membrane_cross_entropy, 1e-3, SHD_TRAIN / (64 * n)


def epoch_seconds(rule_id: str, network: str, neuron: str = "lif", *, device: str = "cpu",
                  n_batches: int | None = None) -> float | str:
    """Seconds of one training epoch of ``rule_id`` on ``network``, or the rule's refusal.

    ``n_batches``: minibatches timed (``shd``: default 4; ``yinyang``: default all), the time
    scaled to a whole epoch.
    """
    from snnlearn.experiments import registry
    from snnlearn.learning.base import check_support

    if network not in NETWORKS:
        raise ValueError(f"unknown network {network!r}; valid networks: {', '.join(NETWORKS)}")
    dev = torch.device(device)
    make = _yinyang if network == "yinyang" else _shd
    net, batches, loss_fn, lr, scale = make(neuron, dev, n_batches)
    rule = registry.make_rule(rule_id)
    try:
        check_support(rule_id, rule.supports, net)
        rule.prepare(net, generator=torch.Generator().manual_seed(2))
    except ValueError as err:
        return f"refused: {str(err).split(';')[0]}"
    opt = rule.configure_optimizer(net, lr)

    def step(x: torch.Tensor, y: torch.Tensor) -> None:
        rollout = rule.simulate(net, x)
        loss = loss_fn(rollout.outputs, y)
        opt.zero_grad(set_to_none=True)
        rule.assign_grads(net, rollout, loss, target=y)
        rule.optimizer_step(net, opt)
        net.constrain_()
        rule.after_step(net)

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    step(*batches[0])
    sync()
    start = time.perf_counter()
    for x, y in batches:
        step(x, y)
    sync()
    return (time.perf_counter() - start) * scale


def run_rules(rules: Sequence[str] = GRADIENT_RULES, *, networks: Sequence[str] = NETWORKS,
              neurons: Sequence[str] = ("lif", "alif"), device: str = "cpu", repeats: int = 1,
              n_batches: int | None = None,
              on_record: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    """Measure every ``(network, neuron, rule)``; the fastest of ``repeats`` runs is kept."""
    if repeats < 1:
        raise ValueError(f"repeats must be an int >= 1, got {repeats}")
    backend = resolve_backend(None, torch.zeros(1, device=device))
    records = []
    for network in networks:
        for neuron in neurons:
            for rule_id in rules:
                times = [epoch_seconds(rule_id, network, neuron, device=device,
                                       n_batches=n_batches) for _ in range(repeats)]
                numeric = [t for t in times if isinstance(t, float)]
                record = {"network": network, "neuron": neuron, "rule": rule_id,
                          "device": device, "backend": backend,
                          "seconds": min(numeric) if numeric else None,
                          "refused": None if numeric else times[0]}
                records.append(record)
                if on_record is not None:
                    on_record(record)
    return records


def rules_markdown(records: Sequence[dict[str, Any]]) -> str:
    """One row per network and neuron, one column per rule: seconds per epoch and the ratio to
    BPTT (ALIF's BPTT cell: the ratio to LIF's BPTT)."""
    rules = list(dict.fromkeys(r["rule"] for r in records))
    cell = {(r["network"], r["neuron"], r["rule"]): r for r in records}
    rows = list(dict.fromkeys((r["network"], r["neuron"]) for r in records))
    lines = ["| network | neuron | " + " | ".join(rules) + " |",
             "|---|---|" + "---|" * len(rules)]
    for network, neuron in rows:
        base = cell.get((network, neuron, "bptt"), {}).get("seconds")
        lif_base = cell.get((network, "lif", "bptt"), {}).get("seconds")
        cells = []
        for rule_id in rules:
            r = cell.get((network, neuron, rule_id))
            if r is None:
                cells.append("")
            elif r["seconds"] is None:
                cells.append(str(r["refused"]))
            else:
                t = r["seconds"]
                ratio = f"{t / base:.2f}x bptt" if base else ""
                if neuron != "lif" and rule_id == "bptt" and lif_base:
                    ratio = f"{t / lif_base:.2f}x LIF"
                cells.append(f"{t:.2f} s ({ratio})")
        lines.append(f"| {network} | {neuron} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
