"""A run's network without its data set: what the checkpoint records of the task's shape.

Building a run's network needs the task's ``n_in``, ``n_out``, ``dt``, input shape and default
neuron parameters; a task that reads files (SHD, MNIST, tonic) loads them when it is built. The
runner therefore stores :func:`task_shape` in every checkpoint (key ``"task_shape"``, plain
numbers and strings), and :func:`load_run_network` rebuilds the network from it when the task
cannot be built here, so that ``snnlearn export`` writes the graph of any run anywhere. Only the
accuracy of the exported graph needs the test split.

The surrogate gradient is not recorded (it does not change the forward pass; the rebuilt
network uses the default).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from snnlearn.neurons import ALIFParams, LIFParams, LIParams

__all__ = ["task_shape", "load_run_network"]


def _params(p: Any) -> dict[str, Any]:
    if isinstance(p, ALIFParams):
        return {"kind": "alif", "lif": _params(p.lif), "tau_adapt": p.tau_adapt,
                "adaptation": p.adaptation}
    kind = "li" if isinstance(p, LIParams) else "lif"
    fields = {f.name: getattr(p, f.name) for f in dataclasses.fields(p)
              if f.name != "surrogate"}
    return {"kind": kind, **fields}


def _from_params(d: dict[str, Any]) -> Any:
    d = dict(d)
    kind = d.pop("kind")
    if kind == "alif":
        return ALIFParams(lif=_from_params(d["lif"]), tau_adapt=d["tau_adapt"],
                          adaptation=d["adaptation"])
    return (LIParams if kind == "li" else LIFParams)(**d)


def task_shape(task: Any) -> dict[str, Any]:
    """What building a network needs of ``task``, as plain numbers and strings."""
    defaults = task.defaults
    return {"n_in": int(task.n_in), "n_out": int(task.n_out), "dt": float(task.dt),
            "in_shape": [int(n) for n in getattr(task, "in_shape", (task.n_in,))],
            "neuron": _params(defaults.neuron), "readout": _params(defaults.readout)}


class _TaskShape:
    """A stand-in task with the shape of the real one and no data (enough to build a net)."""

    def __init__(self, shape: dict[str, Any]) -> None:
        from snnlearn.tasks.base import TaskDefaults

        self.n_in, self.n_out, self.dt = shape["n_in"], shape["n_out"], shape["dt"]
        self.in_shape = tuple(shape["in_shape"])
        self.defaults = TaskDefaults(neuron=_from_params(shape["neuron"]),
                                     readout=_from_params(shape["readout"]))

    def split(self, split: str) -> list[Any]:
        return []


def load_run_network(run_dir: str | Path) -> tuple[Any, Any, Any, dict[str, Any]]:
    """The best-validation network of a run, its config, its task (or ``None``) and checkpoint.

    The task is built when it can be (its data are here); otherwise the network is rebuilt from
    the checkpoint's ``task_shape`` and the task is ``None``.

    Raises:
        CheckpointError: a missing or corrupt checkpoint.
        FileNotFoundError, ModuleNotFoundError: the task's data (or package) are missing and
            the checkpoint predates ``task_shape``.
    """
    from snnlearn.experiments import registry
    from snnlearn.experiments.checkpoint import CHECKPOINT_NAME, load_checkpoint
    from snnlearn.experiments.config import Config
    from snnlearn.experiments.runner import _build

    ckpt = load_checkpoint(Path(run_dir) / CHECKPOINT_NAME, map_location="cpu")
    cfg = Config.from_dict({**ckpt["config"], "device": "cpu"})
    task: Any
    try:
        task = registry.make_task(cfg.task, cfg.task_options)
        stand_in = task
    except (FileNotFoundError, ModuleNotFoundError):
        if "task_shape" not in ckpt:
            raise
        task, stand_in = None, _TaskShape(ckpt["task_shape"])
    net = _build(cfg, stand_in)[0]
    state = ckpt["best_model"] if ckpt["best_model"] else ckpt["model"]
    net.load_state_dict(state)
    net.eval()
    return net, cfg, task, ckpt


def export_run(run_dir: str | Path, file: str | Path, *, target: str = "exact",
               peer_dt: float | None = None, subtract_reset: str = "refuse") -> str:
    """Write a run's best-validation network to ``file`` as a NIR graph for ``target``.

    When the task's test split is here, the graph is re-simulated on it as the target reads it
    (:func:`~snnlearn.export.simulate_nir.simulate_nir`) and its accuracy reported next to
    the network's own.

    Returns:
        The one-line report (what was written, and both accuracies or why there are none).

    Raises:
        ValueError: no such run folder, or the network has no NIR form for ``target``.
        CheckpointError: a missing or corrupt checkpoint.
        ImportError: ``nir`` missing or too old.
    """
    import importlib

    from snnlearn.experiments.runner import evaluate
    from snnlearn.export.nir import to_nir
    from snnlearn.export.simulate_nir import simulate_nir
    from snnlearn.simulate import Rollout

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ValueError(f"run folder {str(run_dir)!r} does not exist; pass a folder made by "
                         "`snnlearn train`")
    net, cfg, task, ckpt = load_run_network(run_dir)
    graph = to_nir(net, target=target, peer_dt=peer_dt,  # type: ignore[arg-type]
                   subtract_reset=subtract_reset)  # type: ignore[arg-type]
    file = Path(file)
    tmp = file.with_name(file.name + ".tmp")
    try:  # through a temporary file: a failed write leaves no half-written graph
        importlib.import_module("nir").write(tmp, graph)
        os.replace(tmp, file)
    finally:
        tmp.unlink(missing_ok=True)
    head = (f"exported {run_dir} (epoch {ckpt['best_epoch']}, {len(net.layers)} layers) -> "
            f"{file} (target {target}, dt {graph.metadata['dt']:g} s)")
    if task is None:
        return head + "; test data not found here: the graph's accuracy was not re-simulated"

    def on_graph(_: Any, x: Any) -> Rollout:
        run = simulate_nir(graph, x)
        spikes = tuple(v for k, v in run.spikes.items() if k.startswith("lif"))
        return Rollout(run.outputs, spikes, (), ())

    test = task.split("test")
    own = evaluate(net, task, test, seed=cfg.seed).accuracy
    exported = evaluate(net, task, test, seed=cfg.seed, simulate=on_graph).accuracy
    return (f"{head}; test accuracy of the exported graph {100 * exported:.1f}% (the network: "
            f"{100 * own:.1f}%)")
