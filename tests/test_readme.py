"""The README's Python examples run as written, and the training example's network spikes."""

from __future__ import annotations

import math
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_the_python_examples_run_and_the_trained_network_spikes() -> None:
    blocks = _blocks()
    namespace: dict = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)  # noqa: S102 - our own README
    assert namespace["rollout"].spikes[0].sum() > 0
    # a silent hidden layer leaves the readout at rest: the loss would be exactly ln 3
    assert abs(float(namespace["loss"].detach()) - math.log(3)) > 1e-3
    assert any(p.grad is not None and p.grad.abs().sum() > 0
               for p in namespace["net"].layers[0].parameters())
    for block in blocks[1:]:
        exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102
