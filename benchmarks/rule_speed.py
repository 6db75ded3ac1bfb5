"""Seconds per training epoch of every gradient rule, and the ratio to BPTT, measured in one run.

The networks and the measurement are :mod:`snnlearn.bench.rules` (``snnlearn bench --rules``
prints the same table). ``--shared`` measures again beside two other 2-thread torch matmul jobs
(started here, stopped at the end) and prints the slowdown against the idle run and against a
fair share of the cores.

Usage::

    python benchmarks/rule_speed.py [--rules bptt,eprop,...] [--repeats 2] [--shared]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

import torch

from snnlearn.bench.rules import GRADIENT_RULES, rules_markdown, run_rules

_HOG = ("import torch, time\n"
        "torch.set_num_threads(2)\n"
        "a = torch.randn(1024, 1024)\n"
        "end = time.time() + {seconds}\n"
        "while time.time() < end:\n"
        "    a @ a\n")


def _measure(args: argparse.Namespace) -> list[dict]:
    def show(r: dict) -> None:
        print(f"  {r['network']:8s} {r['neuron']:5s} {r['rule']:11s} "
              f"{r['seconds'] if r['seconds'] is not None else r['refused']}",
              file=sys.stderr, flush=True)

    return run_rules(args.rules.split(","), neurons=args.neurons.split(","), repeats=args.repeats,
                     n_batches=args.shd_batches, networks=args.networks.split(","),
                     on_record=show)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rules", default=",".join(GRADIENT_RULES))
    parser.add_argument("--networks", default="yinyang,shd")
    parser.add_argument("--neurons", default="lif,alif")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--shd-batches", type=int, default=None,
                        help="minibatches timed per epoch (shd: 4; yinyang: all)")
    parser.add_argument("--shared", action="store_true",
                        help="also measure beside two 2-thread torch jobs")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{os.cpu_count()} cores", flush=True)
    idle = _measure(args)
    print("### idle\n\n" + rules_markdown(idle), flush=True)
    if not args.shared:
        return
    hogs = [subprocess.Popen([sys.executable, "-c", _HOG.format(seconds=3600)])
            for _ in range(2)]
    try:
        shared = _measure(args)
    finally:
        for h in hogs:
            h.kill()
    print("\n### beside two 2-thread torch jobs\n\n" + rules_markdown(shared))
    cores = os.cpu_count() or 2
    fair = (2 + 2 + torch.get_num_threads()) / cores  # threads wanting the cores / cores
    print(f"\nslowdown against idle (a fair share is about {fair:.1f}x):\n")
    for a, b in zip(idle, shared, strict=True):
        if a["seconds"] and b["seconds"]:
            ratio = b["seconds"] / a["seconds"]
            print(f"- {a['network']}/{a['neuron']}/{a['rule']}: {ratio:.1f}x "
                  f"({ratio / fair:.2f} of the fair share)")


if __name__ == "__main__":
    main()
