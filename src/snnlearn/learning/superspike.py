r"""SuperSpike: a three-factor surrogate-gradient rule with explicit eligibility traces.

Zenke & Ganguli's update for a synapse ``j -> i`` (continuous time):

.. math::

    \frac{\partial w_{ij}}{\partial t} = r \int e_i(s)\,
        \alpha * \big(\sigma'(U_i)\, (\epsilon * S_j)\big)(s)\, ds

with ``epsilon * S_j`` the presynaptic spike train filtered by the PSP kernel, ``sigma'`` the
fast-sigmoid surrogate of the postsynaptic membrane, ``alpha`` a double-exponential kernel and
``e_i`` the error. Discretised per step ``dt`` (the filters are the leaky-integrator update of
:func:`snnlearn.neurons.leaky_integrate`, i.e. exact exponential integration on the grid):

.. math::

    I^{\epsilon}_{j,t} &= a_s I^{\epsilon}_{j,t-1} + S_{j,t}, \qquad
    \epsilon_{j,t} = a_m \epsilon_{j,t-1} + (1 - a_m) R\, I^{\epsilon}_{j,t} \\
    h_{ij,t} &= \sigma'(u_{i,t} - v_{th})\, \epsilon_{j,t}, \qquad
    \rho_{ij,t} = b_r \rho_{ij,t-1} + h_{ij,t}, \qquad
    \lambda_{ij,t} = b_d \lambda_{ij,t-1} + (1 - b_d) R_\alpha\, \rho_{ij,t} \\
    g_{ij} &= \sum_t \sum_b \delta_{b,i,t}\, \lambda_{b,ij,t}, \qquad
    \texttt{w.grad} = g \; (= -\Delta w / r)

``u`` is the pre-reset membrane, ``a_{m,s}`` the postsynaptic neuron's decays and
``b_{r,d} = e^{-dt/\tau_{rise,decay}}`` those of ``alpha``.

Errors. With a task loss ``L`` on the readout membrane ``y`` (classification through
:class:`~snnlearn.layers.Readout`), the output error is ``e_{k,t} = dL/dy_{k,t}`` and is *not*
filtered again: the readout's leaky integration already is the output kernel the paper applies
to the spikes, so ``alpha`` defaults to the readout's own kernel (``kernel="readout"``). The last
hidden layer receives ``delta_t = B e_t`` with ``B = W_out^T`` (``feedback="symmetric"``), a fixed
random matrix drawn in :meth:`SuperSpike.prepare` (``"random"``) or all ones (``"uniform"``).
Deeper layers receive ``B_l e_t`` directly (random, uniform) or, when symmetric, the error sent
back instantaneously through the transposed weights of the layer above,
``delta_{l,t} = W_{l+1}^T (sigma'_{l+1,t} delta_{l+1,t})``. For spike-train targets
(:func:`superspike_target_grads`, the paper's single-neuron task) the error is the van Rossum
error ``e = alpha * (S^target - S)`` and ``alpha`` is the paper's double exponential.

Spiking output layers. A network may end in a LIF layer instead of a readout; its loss (e.g. the
van Rossum distance to target trains) is a function of the output spikes ``S``, and the output
error is ``e = dL/dS`` (autograd on the loss w.r.t. the detached spikes). The output layer's own
update is ``sum_t e_t sigma'_t epsilon_t`` (no further kernel: for the van Rossum distance with
kernel ``K``, ``e = (2 dt/tau) K^T K (S - S^target)``, so this is the paper's
``sum_t (K (S^target - S))_t (K (sigma' epsilon))_t`` up to sign and scale, with ``alpha = K``).
The hidden layers then see the membrane error of the outputs, ``sigma'_out e``, in place of the
readout error above, and ``kernel="readout"`` means the output neurons' own PSP kernel.

Exact and approximated: with one hidden layer of LIF neurons with a subtractive, detached reset
(``detach_reset=True``) and no refractoriness, ``feedback="symmetric"`` and ``kernel="readout"``
give exactly the BPTT surrogate gradient, with a readout or a spiking output whose reset is
detached too (the tests check both). Otherwise the traces ignore the
reset's dependence on past spikes (``epsilon * S_j`` is the membrane without resets),
refractoriness and, for deeper layers, the dynamics of the layers above; random and uniform
feedback replace ``W_out^T``. The readout itself is trained by autograd on the detached last
hidden spikes (a one-layer linear filter, so its gradient is exact and local).

Memory: the per-synapse traces ``rho, lambda`` are ``O(B N M)``, independent of ``T``. Because the
task loss (e.g. max over time) is known only after the sequence, the rule keeps ``sigma'`` and the
presynaptic spikes of every step, ``O(T B (N + M))`` per layer; with an online error nothing of
size ``T`` is needed.

Supported neurons: feed-forward :class:`~snnlearn.neurons.LIFParams` hidden layers (with or
without current synapse, either reset), ending in a :class:`~snnlearn.layers.Readout` or in a
feed-forward LIF output layer.

References:
    Zenke, F. & Ganguli, S. (2018). SuperSpike: supervised learning in multilayer spiking neural
    networks. Neural Computation 30(6), 1514-1541. doi:10.1162/neco_a_01086
"""

from __future__ import annotations

import math
from typing import Literal, get_args

import torch
from torch import Tensor

from snnlearn.kernels.li_scan import li_sequence
from snnlearn.layers import Network, Readout, SpikingLayer
from snnlearn.learning.base import LearningRule, Rollout, Support
from snnlearn.neurons import LIFParams, LIParams
from snnlearn.neurons._checks import check_dt, check_positive_time
from snnlearn.simulate import check_input_sequence, unroll

__all__ = [
    "SuperSpike", "Feedback", "Kernel", "alpha_kernel", "superspike_impulse_response",
    "superspike_filter", "superspike_psp", "superspike_eligibility", "superspike_gradient",
    "superspike_target_grads",
]

Feedback = Literal["symmetric", "random", "uniform"]
Kernel = Literal["readout", "alpha", "none"]


def alpha_kernel(tau_rise: float = 5e-3, tau_decay: float = 10e-3) -> LIParams:
    """The paper's double-exponential kernel ``alpha`` as leaky-integrator parameters.

    Its impulse response is ``(1 - b_d)(b_d^{k+1} - b_r^{k+1}) / (b_d - b_r)`` at step ``k``
    (``b = e^{-dt/tau}``), the difference of exponentials ``e^{-t/tau_decay} - e^{-t/tau_rise}``.

    Args:
        tau_rise: rise time constant (s, > 0).
        tau_decay: decay time constant (s, > 0).

    Example:
        >>> alpha_kernel().tau_syn
        0.005
    """
    check_positive_time("alpha_kernel", "tau_rise", tau_rise)
    check_positive_time("alpha_kernel", "tau_decay", tau_decay)
    return LIParams(tau_mem=tau_decay, tau_syn=tau_rise)


def superspike_impulse_response(
    kernel: LIParams, n_steps: int, dt: float, *, dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """Closed-form response of the leaky-integrator ``kernel`` to a unit input at step 0.

    With ``a_m = e^{-dt/tau_mem}``, ``a_s = e^{-dt/tau_syn}`` and ``c = (1 - a_m) R``:
    ``k_n = c (a_m^{n+1} - a_s^{n+1}) / (a_m - a_s)`` (``c (n+1) a^n`` if ``a_m = a_s``) with a
    synapse, ``k_n = c a_m^n`` without; the difference of exponentials
    ``e^{-t/tau_mem} - e^{-t/tau_syn}`` sampled at ``t = (n+1) dt``.

    Shapes:
        ``-> [n_steps]``.

    Example:
        >>> superspike_impulse_response(LIParams(tau_mem=10e-3), 2, 1e-3)
        tensor([0.0952, 0.0861])
    """
    n = torch.arange(n_steps, dtype=torch.float64)
    a_m = math.exp(-dt / kernel.tau_mem)
    c = (1.0 - a_m) * kernel.r
    if kernel.tau_syn is None:
        k = c * a_m ** n
    else:
        a_s = math.exp(-dt / kernel.tau_syn)
        k = (c * (n + 1) * a_m ** n if a_m == a_s
             else c * (a_m ** (n + 1) - a_s ** (n + 1)) / (a_m - a_s))
    return k.to(dtype=dtype or torch.get_default_dtype(), device=device)


def _toeplitz(kernel: LIParams, n_steps: int, dt: float, like: Tensor) -> Tensor:
    """``K[t, s] = k_{t-s}`` for ``t >= s``, else 0: the causal filter as a matrix ``[T, T]``."""
    k = superspike_impulse_response(kernel, n_steps, dt, dtype=like.dtype, device=like.device)
    lag = torch.arange(n_steps, device=like.device)
    lag = lag[:, None] - lag[None, :]
    return torch.where(lag >= 0, k[lag.clamp(min=0)], k.new_zeros(()))


def superspike_filter(h: Tensor, kernel: LIParams | None, dt: float) -> Tensor:
    """Filter a sequence causally with ``kernel`` (``None``: no filter), along the first axis.

    The result is that of running :func:`snnlearn.neurons.leaky_integrate` over ``h`` from rest
    (``f_t = sum_{s <= t} k_{t-s} h_s`` with :func:`superspike_impulse_response`), computed as
    one matrix product over time.

    Shapes:
        ``h [T, ...] -> [T, ...]``.
    """
    if kernel is None:
        return h
    return torch.tensordot(_toeplitz(kernel, h.shape[0], dt, h), h, dims=1)


def superspike_psp(x: Tensor, neuron: LIFParams, dt: float) -> Tensor:
    """Presynaptic traces ``epsilon * S_j``: the input through the neuron's synapse and membrane.

    This is ``d u_t / d w_ij`` of a LIF neuron without resets (``u = sum_j w_ij epsilon_j``).

    Shapes:
        ``x [T, B, M] -> [T, B, M]``.

    Example:
        >>> import torch
        >>> x = torch.zeros(3, 1, 1); x[0] = 1.0
        >>> superspike_psp(x, LIFParams(tau_mem=10e-3), 1e-3).flatten()  # (1 - a) a^k
        tensor([0.0952, 0.0861, 0.0779])
    """
    kernel = LIParams(tau_mem=neuron.tau_mem, tau_syn=neuron.tau_syn, r=neuron.r)
    return superspike_filter(x, kernel, dt)


def superspike_eligibility(
    surrogate: Tensor, psp: Tensor, kernel: LIParams | None, dt: float
) -> Tensor:
    """Every step's eligibility traces ``lambda = alpha * (sigma' epsilon)`` (for inspection).

    Memory ``O(T B N M)``; :func:`superspike_gradient` needs only ``O(T B (N + M))``.

    Shapes:
        ``surrogate [T, B, N]``, ``psp [T, B, M] -> [T, B, N, M]``.
    """
    return superspike_filter(surrogate[..., :, None] * psp[..., None, :], kernel, dt)


def superspike_gradient(
    error: Tensor, surrogate: Tensor, psp: Tensor, kernel: LIParams | None, dt: float
) -> Tensor:
    """The descent direction ``g_ij = sum_{t,b} delta_{b,i,t} lambda_{b,ij,t}``.

    Computed without materialising the per-synapse traces: since ``lambda = K (sigma' epsilon)``
    with the causal filter matrix ``K`` of ``alpha``, ``sum_t delta_t lambda_t =
    sum_s (K^T delta)_s sigma'_s epsilon_s`` (the same sum, reordered; the tests check it
    against :func:`superspike_eligibility`).

    Args:
        error: the error ``delta`` reaching each postsynaptic neuron.
        surrogate: ``sigma'(u - v_th)`` of each postsynaptic neuron.
        psp: presynaptic traces ``epsilon * S`` (see :func:`superspike_psp`).
        kernel: the eligibility kernel ``alpha`` (``None``: instantaneous).
        dt: time step (s).

    Shapes:
        ``error [T, B, N]``, ``surrogate [T, B, N]``, ``psp [T, B, M] -> [N, M]``.
    """
    if kernel is not None:
        error = torch.tensordot(_toeplitz(kernel, error.shape[0], dt, error).T, error, dims=1)
    return torch.einsum("tbn,tbm->nm", error * surrogate, psp)


def _lif_run(layer: SpikingLayer, x: Tensor, dt: float) -> tuple[Tensor, Tensor]:
    """Simulate one LIF layer without autograd: ``(spikes, sigma'(u - v_th))``, from the fused
    kernel's record of the pre-reset membrane (:func:`snnlearn.simulate.unroll`)."""
    with torch.no_grad():
        run = unroll(Network([layer], dt=dt), x, record=True, check=False)
    return run.spikes[0], run.records[0].surrogate


def _with_bias_input(x: Tensor, layer: SpikingLayer) -> Tensor:
    """``x`` with a constant-one channel appended when the layer has a bias."""
    return x if layer.bias is None else torch.cat([x, torch.ones_like(x[..., :1])], dim=-1)


def _write_layer_grad(layer: SpikingLayer, grad: Tensor) -> None:
    layer.weight.grad = grad[:, :layer.n_in].contiguous()
    if layer.bias is not None:
        layer.bias.grad = grad[:, layer.n_in].contiguous()


def _check_lif_layer(layer: object, where: str) -> SpikingLayer:
    if not (isinstance(layer, SpikingLayer) and isinstance(layer.neuron, LIFParams)
            and not layer.recurrent):
        raise ValueError(
            f"SuperSpike supports feed-forward SpikingLayer layers of LIFParams neurons; {where} "
            f"is {layer!r}; use rule 'bptt' or 'eprop' for recurrent or ALIF layers"
        )
    return layer


def superspike_target_grads(
    layer: SpikingLayer, x: Tensor, target: Tensor, dt: float, *, kernel: LIParams | None = None,
) -> Tensor:
    """SuperSpike for output neurons learning target spike trains (the paper's first task).

    The error is the van Rossum error ``e = alpha * (S^target - S)``; the descent direction
    ``-sum_t e_t lambda_t / B`` (see the module docstring) is written to ``layer.weight.grad``
    (and ``layer.bias.grad``); apply it with any ``torch.optim`` optimizer.

    Args:
        layer: a feed-forward LIF layer (the output neurons).
        x: presynaptic spikes ``[T, B, n_in]``.
        target: target spike trains ``[T, B, n_out]`` (0/1).
        dt: time step (s).
        kernel: the kernel ``alpha`` of error and eligibility (default :func:`alpha_kernel`).

    Returns:
        The output spikes ``[T, B, n_out]`` of this run (before the update).

    Raises:
        ValueError: an unsupported layer or inputs of the wrong shape or dtype.

    Example:
        >>> import torch
        >>> layer = SpikingLayer.dense(4, 1, generator=torch.Generator().manual_seed(0))
        >>> x, target = torch.ones(20, 1, 4), torch.zeros(20, 1, 1)
        >>> target[10] = 1.0
        >>> z = superspike_target_grads(layer, x, target, 1e-3)
        >>> tuple(z.shape), bool(layer.weight.grad.sum() < 0)  # descent raises the weights
        ((20, 1, 1), True)
    """
    dt = check_dt(dt)
    layer = _check_lif_layer(layer, "layer")
    check_input_sequence(x, layer.n_in, layer.weight.dtype)
    if tuple(target.shape) != (*x.shape[:2], layer.n_out):
        raise ValueError(f"target must be [T, B, n_out] = {(*x.shape[:2], layer.n_out)}, got "
                         f"{tuple(target.shape)}")
    kernel = alpha_kernel() if kernel is None else kernel
    spikes, slopes = _lif_run(layer, x, dt)
    error = -superspike_filter(target.to(spikes.dtype) - spikes, kernel, dt)
    psp = superspike_psp(_with_bias_input(x, layer), layer.neuron, dt)
    _write_layer_grad(layer, superspike_gradient(error, slopes, psp, kernel, dt) / x.shape[1])
    return spikes


class SuperSpike(LearningRule):
    """SuperSpike with explicit eligibility traces and output-error feedback (see module doc).

    Args:
        feedback: how hidden layers receive the output error: ``"symmetric"`` (``W_out^T``),
            ``"random"`` (fixed ``B_l`` drawn in :meth:`prepare`) or ``"uniform"`` (all ones).
        kernel: the eligibility kernel ``alpha``: ``"readout"`` (the readout's own synaptic and
            membrane filter, exact), ``"alpha"`` (the paper's double exponential with
            ``tau_rise``, ``tau_decay``) or ``"none"`` (instantaneous).
        tau_rise: rise time constant of ``"alpha"`` (s, > 0).
        tau_decay: decay time constant of ``"alpha"`` (s, > 0).

    Raises:
        ValueError: an unknown option or a non-positive time constant.

    Example:
        >>> import torch
        >>> from snnlearn.layers import build_network
        >>> net = build_network(3, [8], 2, dt=1e-3, generator=torch.Generator().manual_seed(0))
        >>> rule = SuperSpike(feedback="random")
        >>> rule.prepare(net, generator=torch.Generator().manual_seed(1))
        >>> r = rule.simulate(net, torch.rand(5, 4, 3))
        >>> rule.assign_grads(net, r, r.outputs.sum())
        >>> net.layers[0].weight.grad.shape
        torch.Size([8, 3])
    """

    name = "superspike"
    supports = Support(spiking_output=True)

    def __init__(self, *, feedback: Feedback = "symmetric", kernel: Kernel = "readout",
                 tau_rise: float = 5e-3, tau_decay: float = 10e-3) -> None:
        if feedback not in get_args(Feedback):
            raise ValueError(f"SuperSpike.feedback must be one of {list(get_args(Feedback))}, "
                             f"got {feedback!r}")
        if kernel not in get_args(Kernel):
            raise ValueError(f"SuperSpike.kernel must be one of {list(get_args(Kernel))}, "
                             f"got {kernel!r}")
        self.feedback, self.kernel = feedback, kernel
        self.alpha = alpha_kernel(tau_rise, tau_decay)
        self.feedback_weights: tuple[Tensor, ...] = ()

    def prepare(self, net: Network, *, generator: torch.Generator | None = None) -> None:
        """Check the network and draw the fixed feedback matrices ``B_l [N_l, n_out]``.

        One matrix per hidden layer (a spiking output layer is not hidden). ``"random"``:
        entries ``N(0, 1) / sqrt(n_out)``, drawn layer by layer from ``generator`` (so the same
        generator gives the same matrices); ``"uniform"``: ones.
        """
        self._check(net)
        w = net.layers[-1].weight
        shapes = [(m.n_out, net.n_out) for m in _hidden_layers(net)]
        if self.feedback == "random":
            self.feedback_weights = tuple(
                torch.randn(s, generator=generator, dtype=torch.float64).to(w) / math.sqrt(s[1])
                for s in shapes)
        else:
            self.feedback_weights = tuple(w.new_ones(s) for s in shapes)

    def simulate(self, net: Network, x: Tensor) -> Rollout:
        """The fused simulation without autograd for the spiking layers (recording their inputs
        and ``sigma'``, :func:`snnlearn.simulate.unroll`), the readout with autograd.

        With a spiking output layer the outputs are its spikes as a leaf tensor that requires
        grad (when grad mode is on), so that :meth:`assign_grads` can read ``dL/dS``.
        """
        self._check(net)
        check_input_sequence(x, net.n_in, net.layers[0].weight.dtype)
        with torch.no_grad():
            run = unroll(net, x, record=True, check=False)
        spiking = [r for r, m in zip(run.records, net.layers, strict=True)
                   if isinstance(m, SpikingLayer)]
        extras = {"inputs": tuple(r.input for r in spiking),
                  "surrogate": tuple(r.surrogate for r in spiking)}
        if isinstance(net.layers[-1], SpikingLayer):
            outputs = run.outputs.detach().clone().requires_grad_(torch.is_grad_enabled())
            return Rollout(outputs=outputs, spikes=run.spikes, membranes=(),
                           final_state=run.final_state, extras=extras)
        readout: Readout = net.layers[-1]
        state = readout.initial_state(x.shape[1], device=x.device, dtype=x.dtype)
        outputs, final = li_sequence(readout.project(run.records[-1].input), state,
                                     readout.neuron, net.dt)
        return Rollout(outputs=outputs, spikes=run.spikes, membranes=(),
                       final_state=(*run.final_state[:-1], final), extras=extras)

    def assign_grads(
        self, net: Network, rollout: Rollout, loss: Tensor, *, target: Tensor | None = None
    ) -> None:
        """Readout by autograd (or a spiking output by its own traces); hidden layers
        ``grad = sum_t delta_t lambda_t`` (module doc)."""
        top = net.layers[-1]
        for p in net.parameters():
            p.grad = None
        params = [] if isinstance(top, SpikingLayer) else [
            p for p in top.parameters() if p.requires_grad]
        error, *grads = torch.autograd.grad(loss, [rollout.outputs, *params], allow_unused=True)
        for p, g in zip(params, grads, strict=True):
            p.grad = torch.zeros_like(p) if g is None else g
        if error is None:
            error = torch.zeros_like(rollout.outputs)
        surrogates, inputs = rollout.extras["surrogate"], rollout.extras["inputs"]
        if isinstance(top, SpikingLayer):
            # dL/dS of the output spikes: the output layer's own update (its loss holds alpha),
            # then the error at its membrane, sent down through the output's PSP kernel
            _write_layer_grad(top, self._layer_grad(top, error, surrogates[-1], inputs[-1],
                                                    None, net.dt))
            error = surrogates[-1] * error
            own = LIParams(tau_mem=top.neuron.tau_mem, tau_syn=top.neuron.tau_syn,
                           r=top.neuron.r)
        else:
            own = top.neuron
        kernel = {"readout": own, "alpha": self.alpha, "none": None}[self.kernel]
        layers = _hidden_layers(net)
        delta = None
        for k in reversed(range(len(layers))):
            if self.feedback != "symmetric":
                delta = error @ self.feedback_weights[k].to(error).T
            elif k == len(layers) - 1:
                delta = error @ top.weight.detach()
            else:
                above = layers[k + 1].weight.detach()
                delta = (surrogates[k + 1] * delta) @ above
            _write_layer_grad(layers[k], self._layer_grad(layers[k], delta, surrogates[k],
                                                          inputs[k], kernel, net.dt))

    @staticmethod
    def _layer_grad(layer: SpikingLayer, delta: Tensor, surrogate: Tensor, x: Tensor,
                    kernel: LIParams | None, dt: float) -> Tensor:
        psp = superspike_psp(_with_bias_input(x, layer), layer.neuron, dt)
        return superspike_gradient(delta, surrogate, psp, kernel, dt)

    def _check(self, net: Network) -> None:
        last = net.layers[-1]
        if not isinstance(last, (Readout, SpikingLayer)):
            raise ValueError("SuperSpike needs a network that ends in a Readout or a spiking "
                             f"layer, got {type(last).__name__}")
        for k, layer in enumerate(net.layers):
            if layer is not last or isinstance(last, SpikingLayer):
                _check_lif_layer(layer, f"layer {k}")


def _hidden_layers(net: Network) -> list[SpikingLayer]:
    """The hidden spiking layers: every spiking layer but a spiking output."""
    layers = net.spiking_layers
    return layers[:-1] if isinstance(net.layers[-1], SpikingLayer) else layers
