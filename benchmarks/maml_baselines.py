"""Few-shot baselines for docs/rules/maml.md: 5-way 1-shot on the digit classes 5-9, never seen in
training (classes 0-4 of the training split train; episodes of classes 5-9 of the test split
score), with the protocol of ``MAML.evaluate_episodes``.

- ``meta_plasticity``: differentiable plasticity (Miconi) meta-trained on classes 0-4 episodes
  (its docs page's configuration: hidden 128, 8 epochs x 128 episodes, lr 1e-2);
- ``finetune_random``: the MAML inner loop (same steps and inner learning rate) from the random
  initial weights;
- ``finetune_pretrained``: the same from weights trained by BPTT to classify classes 0-4
  (``--pretrain-epochs`` epochs, the digits defaults otherwise).

Usage: python benchmarks/maml_baselines.py --seed S [--inner-lr 10] [--inner-steps 5]
Prints one JSON line per baseline.
"""

from __future__ import annotations

import argparse
import json

import torch

from snnlearn.layers import build_network
from snnlearn.learning.base import EpochContext
from snnlearn.learning.maml import MAML, class_subset
from snnlearn.learning.meta_plasticity import MetaPlasticity
from snnlearn.simulate import unroll
from snnlearn.tasks.digits import Digits


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--inner-lr", type=float, default=10.0)
    parser.add_argument("--inner-steps", type=int, default=5)
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--pretrain-epochs", type=int, default=20)
    args = parser.parse_args()
    task = Digits()
    d = task.defaults
    train, test = task.split("train"), task.split("test")
    seen = class_subset(train, 0, 5)

    def network() -> torch.nn.Module:
        return build_network(64, [args.hidden], 10, dt=task.dt, neuron=d.neuron,
                             readout=d.readout, gain=d.gain,
                             generator=torch.Generator().manual_seed(args.seed))

    def episodes(net: torch.nn.Module) -> float:  # the MAML rule's own evaluation protocol
        rule = MAML(n_way=5, k_shot=1, n_query=10, inner_steps=args.inner_steps,
                    inner_lr=args.inner_lr, held_out_classes=5)
        return rule.evaluate_episodes(net, task, test, n_episodes=args.episodes,
                                      generator=torch.Generator().manual_seed(args.seed))

    def report(name: str, accuracy: float) -> None:
        print(json.dumps({"baseline": name, "seed": args.seed, "accuracy": accuracy}),
              flush=True)

    # differentiable plasticity, meta-trained on classes 0-4
    net = network()
    mp = MetaPlasticity(plasticity="miconi", n_way=5, k_shot=1, n_query=5,
                        episodes_per_epoch=128)
    mp.prepare(net, generator=torch.Generator().manual_seed(args.seed + 1))
    for e in range(1, 9):
        mp.fit_epoch(net, EpochContext(
            task=task, data=seen, epoch=e, epochs=8, batch_size=32,
            generator=torch.Generator().manual_seed(args.seed * 1000 + e),
            optimizer=None, lr=1e-2, device=torch.device("cpu")))  # type: ignore[arg-type]
    report("meta_plasticity", mp.evaluate_episodes(
        net, task, class_subset(test, 5, 10), n_episodes=args.episodes,
        generator=torch.Generator().manual_seed(args.seed)))

    # fine-tuning from the random start
    report("finetune_random", episodes(network()))

    # fine-tuning from weights trained (BPTT) to classify the seen classes
    net = network()
    optimizer = torch.optim.Adam(net.parameters(), lr=d.lr)
    g = torch.Generator().manual_seed(args.seed)
    for _ in range(args.pretrain_epochs):
        order = torch.randperm(len(seen), generator=g)
        for i in range(0, len(seen), d.batch_size):
            index = order[i:i + d.batch_size]
            out = unroll(net, task.encode(seen.inputs[index], generator=g)).outputs
            loss = task.loss(out[..., :5], seen.labels[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    report("finetune_pretrained", episodes(net))


if __name__ == "__main__":
    main()
