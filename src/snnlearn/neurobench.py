"""Run a snnlearn network in NeuroBench's ``Benchmark`` (static and workload metrics).

NeuroBench (``pip install 'snnlearn[neurobench]'``) measures a model through forward hooks: it
counts synaptic operations on the inputs of ``torch.nn.Linear`` / ``Conv1d`` / ``Conv2d``
modules, and activation sparsity and membrane updates on the outputs and ``mem`` of neuron
modules. A snnlearn :class:`~snnlearn.layers.Network` keeps its weights in its own synapse
modules and steps its neurons as functions, so :class:`SteppedNetwork` rebuilds it as modules
NeuroBench can see, stepping exactly the same equations:

- every synapse becomes a ``torch.nn.Linear`` / ``Conv1d`` / ``Conv2d`` with the same weights,
  called on each step's input (its spikes), and a recurrent layer gets a second
  ``torch.nn.Linear`` (``W_rec``, zero diagonal) called on the previous step's spikes;
- every spiking layer's neurons become a :class:`NeuronModule` (``out = (spikes, v)``, with
  ``mem`` holding the membrane before and after the step, as snnTorch's neurons do);
- the readout's leaky integrators are a :class:`ReadoutModule`: their membrane is the output,
  not an activation, so they are not counted in activation sparsity or membrane updates;
- pooling, flatten and dropout are applied as they are (no synaptic operations).

:class:`SnnlearnModel` is the ``NeuroBenchModel``: it takes NeuroBench's batch-first
``[B, T, ...]`` input and returns ``[B, T, n_out]``; :func:`neurobench_metrics` runs the
benchmark on a task's split with the task's own encoding and decision rule.

Metrics (NeuroBench 2.3): ``footprint`` (bytes of parameters and buffers of the stepped
network), ``connection_sparsity`` (fraction of zero weights), ``activation_sparsity`` (fraction
of zero hidden spikes over neurons, steps and samples), ``synaptic_operations``
(``Effective_ACs`` for binary inputs, ``Effective_MACs`` otherwise, per sample; biases are not
counted), ``membrane_updates`` (per sample), ``classification_accuracy``.

Learnable-delay synapses are refused (a delay needs the whole sequence, not a step).
"""

from __future__ import annotations

import importlib
from typing import Any

import torch
from torch import Tensor, nn

from snnlearn.layers import Delayed, Network, Readout, SpikingLayer
from snnlearn.layers.synapses import Conv1d, Conv2d, Dense

__all__ = ["SteppedNetwork", "NeuronModule", "ReadoutModule", "SnnlearnModel",
           "neurobench_metrics", "run_metrics", "DEFAULT_METRICS"]

DEFAULT_METRICS = (
    ("footprint", "connection_sparsity"),
    ("classification_accuracy", "activation_sparsity", "synaptic_operations",
     "membrane_updates"),
)
"""NeuroBench metric names: static, then workload."""

_INSTALL = "pip install 'snnlearn[neurobench]'"


def _import_neurobench() -> Any:
    try:
        return importlib.import_module("neurobench")
    except ImportError as err:
        raise ImportError(f"the NeuroBench path needs the `neurobench` package (>= 2.3), which "
                          f"is not installed; install it with `{_INSTALL}`") from err


def _torch_synapse(syn: nn.Module, where: str) -> nn.Module:
    """A plain torch module with the synapse's weights (copied: the stepped net is for eval)."""
    bias = syn.bias is not None
    module: nn.Module
    if isinstance(syn, Dense):
        module = nn.Linear(syn.n_in, syn.n_out, bias=bias)
    elif isinstance(syn, (Conv1d, Conv2d)):
        kind = nn.Conv1d if isinstance(syn, Conv1d) else nn.Conv2d
        module = kind(syn.in_shape[0], syn.channels, syn.kernel, stride=syn.stride,
                      padding=syn.padding, bias=bias)
    elif isinstance(syn, Delayed):
        raise ValueError(f"{where} has learnable delays, which need the whole sequence and "
                         "cannot be stepped; NeuroBench needs a network without --max-delay")
    else:
        raise ValueError(f"{where} has a {type(syn).__name__} synapse; NeuroBench needs dense "
                         "or conv synapses")
    module = module.to(device=syn.weight.device, dtype=syn.weight.dtype)
    with torch.no_grad():
        module.weight.copy_(syn.weight)
        if bias:
            module.bias.copy_(syn.bias)
    module.requires_grad_(False)
    return module


class NeuronModule(nn.Module):
    """One spiking layer's neurons as a stateful module: ``forward(current) -> (spikes, v)``.

    Like snnTorch's neurons (which NeuroBench's hooks expect) it exposes the membrane as
    ``mem``: the value before the step when the pre-hook runs, after it when the hook runs.
    Call :meth:`reset` before a new batch.

    Args:
        layer: the :class:`~snnlearn.layers.SpikingLayer`.
        dt: the network's step (s).
    """

    init_hidden, output = False, True  # what NeuroBench's neuron hook reads

    def __init__(self, layer: SpikingLayer, dt: float) -> None:
        super().__init__()
        self.layer_neuron, self.dt = layer.neuron, dt
        self.grade = layer.grade
        self.out_shape = tuple(layer.out_shape)
        self.state: Any = None
        self.mem: Tensor | None = None

    def reset(self, batch: int, device: torch.device, dtype: torch.dtype) -> None:
        """Start from the resting state for a batch of ``batch`` samples."""
        self.state = self.layer_neuron.initial_state((batch, *self.out_shape), device=device,
                                                     dtype=dtype)
        self.mem = self.state.v

    def forward(self, current: Tensor) -> tuple[Tensor, Tensor]:
        z, self.state = self.layer_neuron.step(current, self.state, self.dt)
        self.mem = self.state.v
        return self.grade(z), self.state.v


class ReadoutModule(nn.Module):
    """The readout's leaky integrators: ``forward(current) -> v`` (the network's output).

    Args:
        layer: the :class:`~snnlearn.layers.Readout`.
        dt: the network's step (s).
    """

    def __init__(self, layer: Readout, dt: float) -> None:
        super().__init__()
        self.neuron, self.dt, self.n_out = layer.neuron, dt, layer.n_out
        self.state: Any = None

    def reset(self, batch: int, device: torch.device, dtype: torch.dtype) -> None:
        """Start from the resting state for a batch of ``batch`` samples."""
        self.state = self.neuron.initial_state((batch, self.n_out), device=device, dtype=dtype)

    def forward(self, current: Tensor) -> Tensor:
        v, self.state = self.neuron.step(current, self.state, self.dt)
        return v


class SteppedNetwork(nn.Module):
    """A :class:`~snnlearn.layers.Network` rebuilt from torch modules, stepped in time.

    ``forward(x)`` takes a batch-first sequence ``[B, T, *in_shape]`` (NeuroBench's layout) and
    returns the last layer's output ``[B, T, *out_shape]``: the same numbers as
    :func:`snnlearn.simulate.unroll` on ``x.transpose(0, 1)``.

    Args:
        network: the trained network (weights are copied).

    Raises:
        ValueError: a layer that cannot be stepped as torch modules (learnable delays).

    Example:
        >>> import torch
        >>> from snnlearn.layers import build_network
        >>> net = build_network(4, [8], 3, dt=1e-3, generator=torch.Generator().manual_seed(0))
        >>> SteppedNetwork(net)(torch.zeros(2, 5, 4)).shape
        torch.Size([2, 5, 3])
    """

    def __init__(self, network: Network) -> None:
        super().__init__()
        self.in_shape, self.dt = tuple(network.in_shape), network.dt
        self.steps = nn.ModuleList()
        for k, layer in enumerate(network.layers):
            where = f"layer {k} ({type(layer).__name__})"
            if isinstance(layer, SpikingLayer):
                rec = None
                w = layer.masked_recurrent_weight()
                if w is not None:
                    rec = nn.Linear(layer.n_out, layer.n_out, bias=False).to(w.device, w.dtype)
                    with torch.no_grad():
                        rec.weight.copy_(w)
                    rec.requires_grad_(False)
                block = nn.ModuleDict({"synapse": _torch_synapse(layer.synapse, where),
                                       "neurons": NeuronModule(layer, network.dt)})
                if rec is not None:
                    block["recurrent"] = rec
                self.steps.append(block)
            elif isinstance(layer, Readout):
                self.steps.append(nn.ModuleDict({
                    "synapse": _torch_synapse(layer.synapse, where),
                    "readout": ReadoutModule(layer, network.dt)}))
            else:
                self.steps.append(layer)
        self.eval()

    def forward(self, x: Tensor) -> Tensor:
        batch, steps = x.shape[0], x.shape[1]
        x = x.reshape(batch, steps, *self.in_shape)
        for block in self.steps:
            if isinstance(block, nn.ModuleDict):
                cell = block["neurons"] if "neurons" in block else block["readout"]
                cell.reset(batch, x.device, x.dtype)
        outs = []
        with torch.no_grad():
            for t in range(steps):
                out = x[:, t]
                for block in self.steps:
                    if not isinstance(block, nn.ModuleDict):
                        out = block(out)
                        continue
                    current = block["synapse"](out)
                    if "readout" in block:
                        out = block["readout"](current)
                        continue
                    cell = block["neurons"]
                    if "recurrent" in block:
                        current = current + block["recurrent"](cell.state.z)
                    out, _ = cell(current)
                outs.append(out)
        return torch.stack(outs, dim=1)


def _model_class() -> type:
    nb = _import_neurobench()
    base = importlib.import_module("neurobench.models").NeuroBenchModel
    hooks = importlib.import_module("neurobench.hooks.neuron")
    del nb

    class SnnlearnModelImpl(base):  # type: ignore[misc, valid-type]
        """``NeuroBenchModel`` of a snnlearn network (see :class:`SnnlearnModel`)."""

        def __init__(self, network: Network) -> None:
            super().__init__()
            self.net = SteppedNetwork(network)
            self.add_activation_module(NeuronModule)

        def __call__(self, batch: Tensor) -> Tensor:
            return self.net(batch)

        def __net__(self) -> nn.Module:
            return self.net

        def register_hooks(self) -> None:
            super().register_hooks()
            for hook in self.activation_hooks:  # spiking: record spikes and membranes
                if isinstance(hook, hooks.NeuronHook) and isinstance(hook.layer, NeuronModule):
                    hook.spiking = True

    return SnnlearnModelImpl


class SnnlearnModel:
    """The ``NeuroBenchModel`` of a network: ``SnnlearnModel(net)`` builds one.

    ``model(batch)`` maps NeuroBench's ``[B, T, ...]`` to ``[B, T, n_out]``; ``__net__()`` is
    the :class:`SteppedNetwork` whose modules NeuroBench hooks.

    Raises:
        ImportError: neurobench is not installed.
        ValueError: the network cannot be stepped as torch modules.
    """

    def __new__(cls, network: Network) -> Any:  # noqa: D102 - documented on the class
        return _model_class()(network)


def neurobench_metrics(network: Network, task: Any, data: Any, *, seed: int = 0,
                       batch_size: int = 256,
                       metrics: tuple[tuple[str, ...], tuple[str, ...]] = DEFAULT_METRICS,
                       ) -> dict[str, Any]:
    """Run NeuroBench's ``Benchmark`` on ``network`` over ``data`` (a task split).

    Inputs are encoded by ``task.encode`` with a generator seeded from ``seed`` (as
    :func:`snnlearn.experiments.runner.evaluate` does), transposed to NeuroBench's batch-first
    layout, and the predictions are ``task.predict`` of the outputs.

    Args:
        network: the trained network.
        task: its task (``encode``, ``predict``).
        data: a :class:`~snnlearn.tasks.base.TaskData` split.
        seed: seeds the encoding.
        batch_size: samples per NeuroBench batch.
        metrics: NeuroBench metric names (``neurobench.metrics.static`` and ``.workload``
            module names), static then workload.

    Returns:
        NeuroBench's results dict (metric name -> value; ``synaptic_operations`` is a dict).

    Raises:
        ImportError: neurobench is not installed.
        ValueError: an unknown metric name, or a network that cannot be stepped.
    """
    _import_neurobench()
    from neurobench.benchmarks import Benchmark

    static, workload = ([_metric("static", n) for n in metrics[0]],
                        [_metric("workload", n) for n in metrics[1]])
    model = SnnlearnModel(network)
    g = torch.Generator().manual_seed(seed)
    batches = []
    dtype = network.dtype
    for i in range(0, len(data), batch_size):
        x = task.encode(data.inputs[i:i + batch_size], generator=g).to(dtype)
        batches.append((x.transpose(0, 1).contiguous(), data.labels[i:i + batch_size]))

    class _Loader(list):
        dataset = range(len(data))

    def predict(outputs: Tensor) -> Tensor:
        return task.predict(outputs.transpose(0, 1))

    bench = Benchmark(model, _Loader(batches), [], [predict], [static, workload])
    return bench.run(quiet=True)


def _metric(kind: str, name: str) -> type:
    module = importlib.import_module(f"neurobench.metrics.{kind}")
    classes = {n.lower(): c for n, c in vars(module).items() if isinstance(c, type)}
    key = name.replace("_", "").lower()
    if key not in classes:
        valid = sorted(n for n in vars(module) if isinstance(vars(module)[n], type))
        raise ValueError(f"unknown NeuroBench {kind} metric {name!r}; valid: {', '.join(valid)}")
    return classes[key]


def run_metrics(run_dir: Any) -> dict[str, Any]:
    """NeuroBench's metrics of a run's best-validation network on its task's test split.

    Raises:
        ImportError: neurobench is not installed.
        ValueError: the task's data are not here, or the network cannot be stepped.
        CheckpointError: a missing or corrupt checkpoint.
    """
    from snnlearn.export.run import load_run_network

    _import_neurobench()
    net, cfg, task, _ = load_run_network(run_dir)
    if task is None:
        raise ValueError(f"the test split of task {cfg.task!r} is not here; NeuroBench's "
                         "workload metrics need it")
    return neurobench_metrics(net, task, task.split("test"), seed=cfg.seed)
