"""Log amplifier, antilog amplifier and their cascade (000 Fig. 1b), driven by a log-scaled current.

The input current is ``I_in = 10^{v(lg)}`` A from one behavioral current source controlled by the
source ``Vlg``: a linear DC sweep of ``Vlg`` is then a sweep in decades of current (ngspice's ``.dc``
only steps linearly), and a pulse on ``Vlg`` steps the current by decades for transient studies.

Generators are pure: they return the circuit and a probe map and never simulate.
"""

from __future__ import annotations

import math

from PySpice.Spice.Netlist import Circuit

from ..blocks.logamp import JunctionModel, add_antilog_amp, add_log_amp
from ..blocks.opamp import AnyOpAmp, OpAmpModel
from ..errors import ConfigError
from .inverse_loop import GeneratedCircuit

#: Independent source whose voltage is log10 of the input current in A.
LOG_CURRENT_SOURCE = "Vlg"


def _log10_current(value_a: float, what: str) -> float:
    if isinstance(value_a, bool) or not isinstance(value_a, (int, float)) or not math.isfinite(value_a) or value_a <= 0:
        raise ConfigError(f"{what} must be a positive current in A (a log amp takes only I > 0), got {value_a!r}")
    return math.log10(value_a)


def log_amp_circuit(device: JunctionModel, opamp: AnyOpAmp, *, current_a: float = 1e-6,
                    antilog_r_ohm: float | None = None, antilog_opamp: OpAmpModel | None = None,
                    step: tuple[float, float, float, float] | None = None) -> GeneratedCircuit:
    """A log amp fed ``current_a`` (A, DC value outside a sweep), optionally followed by an antilog amp.

    ``antilog_r_ohm`` adds the antilog stage with that feedback resistor (matched junction), so
    ``v(alog) = R·I_in`` ideally. ``step = (i_from_a, i_to_a, delay_s, rise_s)`` replaces the DC
    source by a pulse of the current from one value to another (for step-response studies).
    Probes: ``"out"`` (log output), ``"sum"`` (virtual ground), ``"lg"`` (log10 I), ``"antilog"``.
    """
    circuit = Circuit(f"log amp ({device.device})")
    if step is None:
        circuit.V(LOG_CURRENT_SOURCE[1:], "lg", circuit.gnd, _log10_current(current_a, "log-amp input current"))
    else:
        i_from, i_to, delay_s, rise_s = step
        lo, hi = _log10_current(i_from, "step start current"), _log10_current(i_to, "step end current")
        if not (delay_s >= 0 and rise_s > 0):
            raise ConfigError(f"step needs delay_s ≥ 0 and rise_s > 0, got {delay_s!r}, {rise_s!r}")
        circuit.PulseVoltageSource(LOG_CURRENT_SOURCE[1:], "lg", circuit.gnd, initial_value=lo, pulsed_value=hi,
                                   delay_time=delay_s, rise_time=rise_s, fall_time=rise_s, pulse_width=1e3,
                                   period=2e3)
    # I = 10^v(lg) pushed into the summing node (B n+ n- drives its current from n+ to n-).
    circuit.B("in", circuit.gnd, "sum", current_expression=f"exp({math.log(10.0)!r}*v(lg))")
    add_log_amp(circuit, "log", "sum", "out", device, opamp)
    probes = {"out": "out", "sum": "sum", "lg": "lg"}
    if antilog_r_ohm is not None:
        add_antilog_amp(circuit, "alog", "out", "alog", device, antilog_opamp or opamp, antilog_r_ohm)
        probes["antilog"] = "alog"
    return GeneratedCircuit(circuit=circuit, probes=probes, source=LOG_CURRENT_SOURCE)
