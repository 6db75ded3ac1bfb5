"""Plot the van Rossum distance (validation) over training of a `spike_pattern` run.

The untrained network's distance (epoch 0) is measured on the run's own initial weights (the
config and seed rebuild them); the other points are the run's ``metrics.jsonl``.

    OMP_NUM_THREADS=1 snnlearn train --task spike_pattern --rule superspike --out runs/sp
    OMP_NUM_THREADS=1 python benchmarks/spike_pattern_curve.py runs/sp \\
        --png docs/img/spike_pattern_superspike.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from snnlearn.experiments import Config
from snnlearn.experiments.registry import make_task
from snnlearn.experiments.runner import _build, evaluate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("--png", default="docs/img/spike_pattern_superspike.png")
    args = parser.parse_args()
    run_dir = Path(args.run_dir)
    cfg = Config.from_dict(json.loads((run_dir / "config.json").read_text()))
    task = make_task(cfg.task, cfg.task_options)
    net, rule, _ = _build(cfg, task)  # the run's initial weights (seeded)
    first = evaluate(net, task, task.split("val"), seed=cfg.seed, simulate=rule.simulate)
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    epochs = [0] + [r["epoch"] for r in records]
    distance = [first.metrics["van_rossum_distance"]] + [r["val_van_rossum_distance"]
                                                          for r in records]
    matched = [first.accuracy] + [r["val_accuracy"] for r in records]
    print(f"van Rossum distance {distance[0]:.2f} -> {distance[-1]:.2f} "
          f"({100 * (1 - min(distance) / distance[0]):.1f} % lower at best); "
          f"matched within tolerance {matched[-1]:.3f}")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    ax.plot(epochs, distance, "o-", ms=3, label="van Rossum distance (val)")
    ax.set_xlabel(f"epoch ({task.repeats} updates each)")
    ax.set_ylabel("squared van Rossum distance")
    ax.set_yscale("log")
    twin = ax.twinx()
    twin.plot(epochs, matched, "s--", ms=3, color="tab:orange",
              label="target spikes matched within 2 ms")
    twin.set_ylabel("fraction matched")
    twin.set_ylim(0, 1.05)
    ax.set_title(f"spike_pattern / {cfg.rule}")
    fig.legend(loc="center right", fontsize=7, bbox_to_anchor=(0.85, 0.5))
    fig.tight_layout()
    Path(args.png).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.png, dpi=120)


if __name__ == "__main__":
    main()
