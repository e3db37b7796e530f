"""Generic function-inverting loop (000 Fig. 1a): an op-amp as forward block, ``B`` in feedback.

The op-amp's non-inverting input is the loop input ``x_i`` (a swept source ``Vxi``), its inverting
input is the feedback ``x_f = B(x_o)`` and its output is ``x_o``: ``x_o = A·(x_i − x_f)`` is 000 Eq. 1
with the error function of Eq. 3 at unity gain. A DC sweep of ``Vxi`` therefore traces
``x_o = B⁻¹(x_i)`` (Eq. 7) up to the finite-gain error of Eq. 5. Several loops with different
op-amps can share one input source, so one ngspice run gives the error-vs-A curve.

Generators are pure: they return the circuit and a probe map and never simulate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from PySpice.Spice.Netlist import Circuit

from ..blocks.feedback import add_feedback_function, feedback_expression
from ..blocks.opamp import AnyOpAmp, add_opamp
from ..blocks.user_block import UserOpAmp, supply_sources
from ..errors import ConfigError

#: Name of the independent source that drives x_i (the DC-sweep source).
INPUT_SOURCE = "Vxi"


@dataclass(frozen=True)
class GeneratedCircuit:
    """A circuit ready for :class:`analogopt.spice.NetlistDeck` plus what its nodes mean.

    ``probes`` maps a role (``"x_o[0]"``, ``"out"`` …) to a node name; ``source`` names the
    independent source a DC sweep should drive.
    """

    circuit: Circuit
    probes: dict[str, str] = field(default_factory=dict)
    source: str = INPUT_SOURCE


def inverse_loop_circuit(function: str, opamps: Sequence[AnyOpAmp], *, x_i: float = 0.0) -> GeneratedCircuit:
    """One loop per op-amp in ``opamps``, all inverting feedback function ``function`` of the same ``x_i``.

    Probes: ``"x_i"`` → the input node, ``"x_o[k]"`` / ``"x_f[k]"`` → output and feedback of loop k.
    ``x_i`` is the DC value of the input source (V) outside a sweep. A part with supply pins (a
    transistor-level op-amp) runs from ±``supply_v``/2 about ground, so x_o keeps its sign.
    """
    feedback_expression(function, "x")  # validates the name before any element is built
    if len(opamps) == 0:
        raise ConfigError("an inverse loop needs at least one op-amp model")
    circuit = Circuit(f"inverse loop of {function}")
    circuit.V(INPUT_SOURCE[1:], "xi", circuit.gnd, float(x_i))
    probes = {"x_i": "xi"}
    supplies: dict[str, dict[str, str]] = {}
    for model in opamps:
        if isinstance(model, UserOpAmp) and model.name not in supplies:
            lines, supplies[model.name] = supply_sources(model, f"s{len(supplies)}")
            circuit.raw_spice += lines
    for k, model in enumerate(opamps):
        xo, xf = f"xo{k}", f"xf{k}"
        add_opamp(circuit, f"fwd{k}", "xi", xf, xo, model,
                  supplies.get(model.name) if isinstance(model, UserOpAmp) else None)
        add_feedback_function(circuit, f"fb{k}", xo, xf, function)
        probes[f"x_o[{k}]"] = xo
        probes[f"x_f[{k}]"] = xf
    return GeneratedCircuit(circuit=circuit, probes=probes)
