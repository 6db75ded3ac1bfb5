"""Neuron models as pure step functions over explicit state (times in seconds)."""

from snnlearn.neurons.alif import ALIFParams, ALIFState, alif_initial_state, alif_step
from snnlearn.neurons.hh import (
    HHParams,
    HHState,
    hh_fire,
    hh_initial_state,
    hh_integrate,
    hh_rates,
    hh_step,
)
from snnlearn.neurons.izhikevich import (
    IzhikevichParams,
    IzhikevichPattern,
    IzhikevichState,
    izhikevich_fire,
    izhikevich_initial_state,
    izhikevich_integrate,
    izhikevich_preset,
    izhikevich_step,
)
from snnlearn.neurons.li import LIParams, LIState, leaky_integrate, li_initial_state, li_step
from snnlearn.neurons.lif import (
    LIFParams,
    LIFState,
    lif_fire,
    lif_initial_state,
    lif_integrate,
    lif_step,
)

__all__ = [
    "ALIFParams", "ALIFState", "alif_initial_state", "alif_step",
    "LIParams", "LIState", "leaky_integrate", "li_initial_state", "li_step",
    "LIFParams", "LIFState", "lif_fire", "lif_initial_state", "lif_integrate", "lif_step",
    "HHParams", "HHState", "hh_fire", "hh_initial_state", "hh_integrate", "hh_rates", "hh_step",
    "IzhikevichParams", "IzhikevichPattern", "IzhikevichState", "izhikevich_fire",
    "izhikevich_initial_state", "izhikevich_integrate", "izhikevich_preset", "izhikevich_step",
]
