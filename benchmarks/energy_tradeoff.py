"""Coding loss against spikes per sample on the `autoencoder` task: one network, one run-time knob,
against networks retrained per operating point.

One network is trained with a joint coding + activity loss (``activity_reg`` = ``--base-reg``);
its trade-off curve is traced by one number changed at run time
(:func:`snnlearn.tasks.autoencoder.autoencoder_operating_point`, ``--scales``): the spike size
(thresholds and each spike's downstream weights scaled together) and, for contrast, the hidden
thresholds alone; each point is evaluated on the test split. The comparison retrains one
network per activity-loss strength (``--regs``).
Writes ``OUT/energy_tradeoff.json``, ``OUT/energy_tradeoff.md`` and the chart ``--png``.

    OMP_NUM_THREADS=1 python benchmarks/energy_tradeoff.py --out runs/energy-ae \\
        --png docs/img/energy_autoencoder.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from snnlearn.experiments import Config, run
from snnlearn.experiments.registry import make_task
from snnlearn.experiments.runner import evaluate, load_network, read_summary
from snnlearn.tasks.autoencoder import autoencoder_operating_point


def _train(out: Path, reg: float, epochs: int, seed: int) -> Path:
    run_dir = out / f"reg{reg:g}"
    if not (run_dir / "summary.json").exists():
        run(Config(task="autoencoder", rule="bptt", activity_reg=reg, epochs=epochs, seed=seed,
                   out=str(run_dir)))
    return run_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/energy-ae")
    parser.add_argument("--png", default="docs/img/energy_autoencoder.png")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--base-reg", type=float, default=0.01)
    parser.add_argument("--scales", default="0.5,0.75,1,1.5,2,3,4")
    parser.add_argument("--regs", default="0,0.01,0.1,1")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    task = make_task("autoencoder")
    test = task.split("test")

    base_dir = _train(out, args.base_reg, args.epochs, args.seed)
    net, _ = load_network(base_dir)
    curves: dict[str, list[dict[str, float]]] = {"spike_size": [], "threshold": []}
    for knob, one in curves.items():
        for scale in (float(s) for s in args.scales.split(",")):
            ev = evaluate(autoencoder_operating_point(net, scale, knob=knob), task, test,
                          seed=args.seed)
            one.append({"scale": scale, "coding_loss": ev.metrics["coding_loss"],
                        "spikes_per_sample": ev.spikes_per_sample, "score": ev.accuracy})
    retrained = []
    for reg in (float(r) for r in args.regs.split(",")):
        s = read_summary(_train(out, reg, args.epochs, args.seed))
        retrained.append({"activity_reg": reg, "coding_loss": s["test_coding_loss"],
                          "spikes_per_sample": s["spikes_per_sample"],
                          "score": s["test_accuracy"]})
    result = {"base_reg": args.base_reg, "epochs": args.epochs, "seed": args.seed,
              "one_network": curves, "retrained": retrained}
    (out / "energy_tradeoff.json").write_text(json.dumps(result, indent=2) + "\n")

    lines = ["| network | knob | spikes / sample | coding loss (MSE) | variance explained |",
             "|---|---|---|---|---|"]
    lines += [f"| one (reg {args.base_reg:g}) | {knob} x{r['scale']:g} | "
              f"{r['spikes_per_sample']:.1f} | {r['coding_loss']:.4f} | {r['score']:.3f} |"
              for knob, one in curves.items() for r in one]
    lines += [f"| retrained | activity_reg {r['activity_reg']:g} | {r['spikes_per_sample']:.1f} | "
              f"{r['coding_loss']:.4f} | {r['score']:.3f} |" for r in retrained]
    table = "\n".join(lines)
    (out / "energy_tradeoff.md").write_text(table + "\n")
    print(table)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for knob, one in curves.items():
        ax.plot([r["spikes_per_sample"] for r in one], [r["coding_loss"] for r in one], "o-",
                label=f"one network (reg {args.base_reg:g}), {knob} scaled at run time")
        for r in one:
            ax.annotate(f"x{r['scale']:g}", (r["spikes_per_sample"], r["coding_loss"]),
                        textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.plot([r["spikes_per_sample"] for r in retrained], [r["coding_loss"] for r in retrained],
            "s--", label="retrained per activity_reg")
    for r in retrained:
        ax.annotate(f"{r['activity_reg']:g}", (r["spikes_per_sample"], r["coding_loss"]),
                    textcoords="offset points", xytext=(4, -10), fontsize=7)
    ax.set_xlabel("hidden spikes per sample (test)")
    ax.set_ylabel("coding loss (test MSE)")
    ax.set_title("autoencoder: coding loss vs activity")
    ax.legend(fontsize=7)
    fig.tight_layout()
    Path(args.png).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.png, dpi=120)


if __name__ == "__main__":
    main()
