"""Peak memory of one training step against the sequence length T, per learning rule.

Each (rule, T) point runs in a fresh Python process: the process builds a network
(700 -> 256 LIF -> 20, the BENCHMARKS.md shape) and a Bernoulli input (p = 0.05, B = 16), records
its resident set size, then does one forward + gradient step with the rule and reports the growth
of the peak resident set size (ru_maxrss) over that baseline. Prints a markdown table.

    python benchmarks/memory_vs_T.py [--rules bptt,eprop,eventprop] [--T 100,500,1000,2000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = r"""
import json, resource, sys, torch
from snnlearn.layers import build_network
from snnlearn.neurons import LIFParams, LIParams
from snnlearn.experiments.registry import make_rule
torch.set_num_threads(1)
rule_id, T = sys.argv[1], int(sys.argv[2])
g = torch.Generator().manual_seed(0)
net = build_network(700, [256], 20, dt=1e-3, neuron=LIFParams(tau_mem=20e-3, tau_syn=5e-3),
                    readout=LIParams(tau_mem=20e-3, tau_syn=5e-3), gain=2.0, generator=g)
x = (torch.rand(T, 16, 700, generator=g) < 0.05).float()
y = torch.randint(0, 20, (16,), generator=g)
rule = make_rule(rule_id)
rule.prepare(net, generator=torch.Generator().manual_seed(1))
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
rollout = rule.simulate(net, x)
loss = torch.nn.functional.cross_entropy(rollout.outputs.amax(0), y)
rule.assign_grads(net, rollout, loss)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"rule": rule_id, "T": T, "delta_mib": (peak - base) / 1024}))
"""


def measure(rule: str, T: int) -> float | None:
    proc = subprocess.run([sys.executable, "-c", CHILD, rule, str(T)], capture_output=True,
                          text=True, check=False)
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or ["?"]
        print(f"{rule} T={T}: failed: {tail[0]}", file=sys.stderr)
        return None
    return float(json.loads(proc.stdout.strip().splitlines()[-1])["delta_mib"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rules", default="bptt,eprop,eventprop")
    ap.add_argument("--T", default="100,250,500,1000,2000")
    args = ap.parse_args()
    rules = args.rules.split(",")
    lengths = [int(t) for t in args.T.split(",")]
    table = {r: {t: measure(r, t) for t in lengths} for r in rules}
    print("| rule | " + " | ".join(f"T={t}" for t in lengths) + " | growth T_max/T_min |")
    print("|---" * (len(lengths) + 2) + "|")
    for r in rules:
        vals = table[r]
        first, last = vals[lengths[0]], vals[lengths[-1]]
        growth = f"{last / first:.2f}x" if first and last else "—"
        cells = " | ".join("—" if v is None else f"{v:.1f} MiB" for v in vals.values())
        print(f"| {r} | {cells} | {growth} |")
    print("\nPeak resident-set growth during one step (fresh process per cell, 2-core CPU).")


if __name__ == "__main__":
    main()
