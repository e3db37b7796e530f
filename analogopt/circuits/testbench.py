"""Generators of the characterization testbenches behind ``analogopt characterize``: block parameters in,
decks and probe names out. Nothing here runs ngspice; :mod:`analogopt.commands.characterize` does.

Every op-amp bench biases the inputs at the middle of the output rails (0 V without rails), so the
output idles in its linear range as a designer's bench would, and leaves the device unloaded.

``ac`` (open loop)
    A high-gain op-amp cannot be swept open loop: its input offset times A0 would pin the output to a
    rail (or to kilovolts without rails), and the AC analysis would linearize that wrong operating
    point. The bench closes the loop for DC only: a huge inductor from ``out`` to ``inn`` makes it a
    follower at the operating point, and a huge capacitor holds ``inn`` at AC ground, with the source
    on ``inp``. The LC corner sits three decades below the sweep. The little feedback left at the
    lowest frequencies is divided out: the gain is read as ``v(out)/(v(inp) − v(inn))``, the op-amp's
    own differential input, so the result is the open-loop gain whatever the residual loop.
``noise``
    A unity-gain follower (β = 1) under ``.noise v(out) Vin``: ``onoise_spectrum`` is the output
    density and ``inoise_spectrum`` the same referred to ``Vin``, i.e. to the op-amp's input.
``offset``
    The follower at ``.op``: ``v(out) − V_cm`` is the offset times A0/(1 + A0); the source current is
    the bias current drawn out of ``inp``.
``slew``
    The follower driven by a step of ``slew_step_v``, large enough for the input stage to saturate
    over the 20–80 % part of the edge.

The RC integrator gets an AC bench (and a ``.noise`` bench with its leak resistor), the comparator a
DC transfer sweep and a small-signal AC bench at 0 V in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping

from PySpice.Spice.Netlist import Circuit

from ..blocks.activation import sigma_expr
from ..blocks.integrator import RCLowPass
from ..blocks.opamp import OpAmpModel, add_opamp
from ..errors import ConfigError
from ..problems import ActivationSpec
from ..spice.netlist import ACSweep, Analysis, DCSweep, NetlistDeck, OperatingPoint, Transient, format_value, validate_name

#: Points per decade of the op-amp and integrator AC sweeps: enough that interpolating gain and phase
#: between points errs by far less than the 2 % the measurements are held to.
AC_POINTS_PER_DECADE = 50
#: Points per decade of the noise sweeps (white densities need few).
NOISE_POINTS_PER_DECADE = 20
#: The frequency (Hz) at which noise densities are quoted, as datasheets do.
NOISE_QUOTE_HZ = 1e3
#: The open-loop bench's LC corner lies this factor below the sweep's first frequency.
LC_CORNER_BELOW = 1e3
#: Step size of the slew bench in units of the input stage's linear range ``SR/(2π·GBW)``: at the 80 %
#: point 5 linear ranges are left, where tanh is within 1e-4 of saturation.
SLEW_STEP_LINEAR_RANGES = 25.0
#: Samples of the comparator's DC transfer sweep.
COMPARATOR_SWEEP_POINTS = 6000
#: Newton tolerances of the comparator's DC sweep. At ngspice's defaults (reltol 1e-3) each sweep point
#: is accepted once an iteration moves less than reltol, so the steep part of the transfer lands up to
#: about a millivolt off the expression; the bench is one source and one B-source, so converging to
#: picovolts costs nothing.
PRECISE_OP_OPTIONS: Mapping[str, float] = {"reltol": 1e-9, "abstol": 1e-15, "vntol": 1e-12}


@dataclass(frozen=True)
class NoiseSweep(Analysis):
    """``.noise v(output) source dec N start stop``: output and input-referred noise densities (V/√Hz)
    of ``output`` with respect to the independent source ``source``."""

    output: str
    source: str
    start_hz: float
    stop_hz: float
    points_per_decade: int = NOISE_POINTS_PER_DECADE

    def __post_init__(self) -> None:
        validate_name(self.output, "noise output node")
        validate_name(self.source, "noise input source")
        if not 0 < self.start_hz < self.stop_hz:
            raise ConfigError(f"noise sweep needs 0 < start_hz < stop_hz, got {self.start_hz}, {self.stop_hz}")

    def format(self) -> str:
        return (f".noise v({self.output}) {self.source} dec {int(self.points_per_decade)} "
                f"{format_value(self.start_hz)} {format_value(self.stop_hz)}")


@dataclass(frozen=True)
class Testbench:
    """One characterization run: its analysis name (``ac``, ``noise``, ``offset``, ``slew``, ``dc``),
    the deck, ``probes`` (role → SPICE vector), a one-line ``purpose`` for the report, and ``levels``:
    the bench's own numbers a measurement needs (V, s)."""

    analysis: str
    deck: NetlistDeck
    probes: Mapping[str, str]
    purpose: str
    levels: Mapping[str, float] = field(default_factory=dict)


def decade_floor(value_hz: float) -> float:
    """The power of ten at or below ``value_hz`` (Hz)."""
    return 10.0 ** math.floor(math.log10(value_hz))


def decade_ceil(value_hz: float) -> float:
    """The power of ten at or above ``value_hz`` (Hz)."""
    return 10.0 ** math.ceil(math.log10(value_hz))


# ------------------------------------------------------------------------------------------ op-amp
def common_mode_v(model: OpAmpModel) -> float:
    """The input bias (V) of every op-amp bench: mid-rail, or 0 V without rails."""
    return 0.0 if model.v_low is None else 0.5 * (model.v_low + model.v_high)


def opamp_ac_range_hz(model: OpAmpModel) -> tuple[float, float]:
    """(start, stop) in Hz of the open-loop sweep: three decades below the dominant pole to two above
    the unity-gain frequency (and the second pole); 1 Hz … 1 GHz for the ideal kind."""
    if model.gbw_hz is None:
        return 1.0, 1e9
    top = max(model.unity_gain_hz(), model.second_pole_hz or 0.0)
    return decade_floor(model.dominant_pole_hz / 1e3), decade_ceil(100.0 * top)


def opamp_noise_range_hz(model: OpAmpModel) -> tuple[float, float]:
    """(start, stop) in Hz of the noise sweep: 1 Hz to a decade above the unity-gain frequency, and
    always past :data:`NOISE_QUOTE_HZ`."""
    top = model.unity_gain_hz() if model.gbw_hz is not None else 1e5
    return 1.0, decade_ceil(max(10.0 * NOISE_QUOTE_HZ, 10.0 * top))


def _opamp_circuit(title: str, model: OpAmpModel, source: str, *, follower: bool) -> Circuit:
    circuit = Circuit(title)
    circuit.V("in", "inp", circuit.gnd, source)
    add_opamp(circuit, "dut", "inp", "out" if follower else "inn", "out", model)
    return circuit


def opamp_open_loop_bench(model: OpAmpModel) -> Testbench:
    """The open-loop AC bench (module docstring): probes ``out``, ``inp``, ``inn``."""
    start, stop = opamp_ac_range_hz(model)
    v_cm = common_mode_v(model)
    circuit = _opamp_circuit("op-amp open-loop gain, DC loop closed through L", model,
                             f"dc {format_value(v_cm)} ac 1", follower=False)
    corner_hz = start / LC_CORNER_BELOW
    c_ac = 1.0  # F; L follows from the corner
    l_dc = 1.0 / ((2 * math.pi * corner_hz) ** 2 * c_ac)
    circuit.L("dc", "out", "inn", l_dc)
    circuit.C("ac", "inn", circuit.gnd, c_ac)
    deck = NetlistDeck(circuit, analyses=[ACSweep(start, stop, AC_POINTS_PER_DECADE)],
                       saves=["v(out)", "v(inp)", "v(inn)"])
    return Testbench("ac", deck, {"out": "v(out)", "inp": "v(inp)", "inn": "v(inn)"},
                     f"open-loop gain v(out)/(v(inp) − v(inn)), {start:g} Hz … {stop:g} Hz; DC feedback through "
                     f"L = {l_dc:.3g} H, inn held at AC ground by C = {c_ac:g} F", {"v_cm": v_cm})


def opamp_noise_bench(model: OpAmpModel) -> Testbench:
    """The unity-gain follower under ``.noise``: probes ``output_density``, ``input_density`` (V/√Hz)."""
    start, stop = opamp_noise_range_hz(model)
    v_cm = common_mode_v(model)
    circuit = _opamp_circuit("op-amp noise, unity-gain follower", model, f"dc {format_value(v_cm)} ac 1",
                             follower=True)
    deck = NetlistDeck(circuit, analyses=[NoiseSweep("out", "Vin", start, stop)])
    return Testbench("noise", deck, {"output_density": "onoise_spectrum", "input_density": "inoise_spectrum"},
                     f"unity-gain follower, .noise v(out) Vin, {start:g} Hz … {stop:g} Hz", {"v_cm": v_cm})


def opamp_offset_bench(model: OpAmpModel) -> Testbench:
    """The follower at its operating point: probes ``out`` and ``source_current`` (A, into ``Vin``'s
    positive terminal)."""
    v_cm = common_mode_v(model)
    circuit = _opamp_circuit("op-amp offset and bias, unity-gain follower", model, format_value(v_cm), follower=True)
    deck = NetlistDeck(circuit, analyses=[OperatingPoint()])
    return Testbench("offset", deck, {"out": "v(out)", "source_current": "i(vin)"},
                     f"unity-gain follower at .op, input at {v_cm:g} V", {"v_cm": v_cm})


def slew_step_v(model: OpAmpModel) -> float:
    """The slew bench's step (V): :data:`SLEW_STEP_LINEAR_RANGES` linear ranges ``SR/(2π·GBW)``, at
    least 1 V, at most 80 % of the rail span."""
    if model.slew_v_per_s is None:
        raise ConfigError("the slew bench needs an op-amp with slew_v_per_s")
    step = max(1.0, SLEW_STEP_LINEAR_RANGES * model.slew_v_per_s / (2 * math.pi * model.gbw_hz))
    if model.v_low is not None:
        step = min(step, 0.8 * (model.v_high - model.v_low))
    return step


def opamp_slew_bench(model: OpAmpModel) -> Testbench:
    """The follower's step response: probe ``out``; levels ``v_start``, ``step_v``, ``delay_s`` (V, V, s)."""
    step = slew_step_v(model)
    v_start = common_mode_v(model) - step / 2
    slewing_s = step / model.slew_v_per_s
    settle_s = 20.0 / (2 * math.pi * model.unity_gain_hz())  # 20 time constants of the β = 1 loop
    delay_s, edge_s = 0.05 * slewing_s, slewing_s / 1e3
    circuit = Circuit("op-amp slew rate, unity-gain follower")
    circuit.PulseVoltageSource("in", "inp", circuit.gnd, initial_value=v_start, pulsed_value=v_start + step,
                               delay_time=delay_s, rise_time=edge_s, fall_time=edge_s, pulse_width=1e3, period=2e3)
    add_opamp(circuit, "dut", "inp", "out", "out", model)
    stop_s = delay_s + 2 * slewing_s + settle_s
    deck = NetlistDeck(circuit, analyses=[Transient(stop_s, step_s=slewing_s / 1e3, max_step_s=slewing_s / 1e3,
                                                    uic=False)], saves=["v(out)", "v(inp)"])
    return Testbench("slew", deck, {"out": "v(out)", "inp": "v(inp)"},
                     f"unity-gain follower, {step:g} V step at {delay_s:g} s", {"v_start": v_start, "step_v": step,
                                                                                 "delay_s": delay_s})


def opamp_testbenches(model: OpAmpModel) -> dict[str, Testbench]:
    """Every bench that applies to ``model``, by analysis name; ``slew`` only with a slew limit."""
    benches = [opamp_open_loop_bench(model), opamp_noise_bench(model), opamp_offset_bench(model)]
    if model.slew_v_per_s is not None:
        benches.append(opamp_slew_bench(model))
    return {b.analysis: b for b in benches}


# ------------------------------------------------------------------------------------------ integrator
#: With ``leak=False`` the weight node has no DC path (capacitor and current source only) and the
#: operating point is singular; the bench adds this many times R (τ/C) to ground, which moves the pole
#: six decades below the measured band.
INTEGRATOR_DC_PATH_FACTOR = 1e6


def integrator_corner_hz(block: RCLowPass) -> float:
    """``1/(2πτ)`` in Hz."""
    return 1.0 / (2 * math.pi * block.tau_s)


def integrator_range_hz(block: RCLowPass) -> tuple[float, float]:
    """(start, stop) in Hz: three decades around the corner (around |γ|/(2πτ) without leak)."""
    centre = integrator_corner_hz(block) * (1.0 if block.leak else abs(block.gamma))
    return decade_floor(centre / 1e3), decade_ceil(centre * 1e3 * max(1.0, abs(block.gamma)))


def _integrator_circuit(title: str, block: RCLowPass) -> Circuit:
    circuit = Circuit(title)
    circuit.V("in", "inp", circuit.gnd, "dc 0 ac 1")
    block.add(circuit, "int", "inp", "w", 0.0)
    if not block.leak:
        circuit.R("dcpath", "w", circuit.gnd, INTEGRATOR_DC_PATH_FACTOR * block.r_ohm)
    return circuit


def integrator_ac_bench(block: RCLowPass) -> Testbench:
    """The integrator's transfer ``v(w)/v(inp)``: probes ``out``, ``inp``."""
    start, stop = integrator_range_hz(block)
    deck = NetlistDeck(_integrator_circuit("RC weight integrator transfer", block),
                       analyses=[ACSweep(start, stop, AC_POINTS_PER_DECADE)], saves=["v(w)", "v(inp)"])
    note = "" if block.leak else f"; DC path {INTEGRATOR_DC_PATH_FACTOR:g}·R to ground (no leak)"
    return Testbench("ac", deck, {"out": "v(w)", "inp": "v(inp)"},
                     f"transfer v(w)/v(inp), {start:g} Hz … {stop:g} Hz{note}")


def integrator_noise_bench(block: RCLowPass) -> Testbench:
    """``.noise`` of the leak resistor at the weight node (``leak=True`` only)."""
    if not block.leak:
        raise ConfigError("a pure integrator (leak=false) has no noisy element; its noise bench does not apply")
    start, stop = integrator_range_hz(block)
    start, stop = min(start, 1.0), max(stop, 10.0 * NOISE_QUOTE_HZ)
    deck = NetlistDeck(_integrator_circuit("RC weight integrator noise", block),
                       analyses=[NoiseSweep("w", "Vin", start, stop)])
    return Testbench("noise", deck, {"output_density": "onoise_spectrum", "input_density": "inoise_spectrum"},
                     f".noise v(w) Vin, {start:g} Hz … {stop:g} Hz")


def integrator_testbenches(block: RCLowPass) -> dict[str, Testbench]:
    """The AC bench, and the noise bench when the block has its leak resistor."""
    benches = [integrator_ac_bench(block)] + ([integrator_noise_bench(block)] if block.leak else [])
    return {b.analysis: b for b in benches}


# ------------------------------------------------------------------------------------------ comparator
def _comparator_circuit(title: str, spec: ActivationSpec, source: str) -> Circuit:
    circuit = Circuit(title)
    circuit.V("in", "inp", circuit.gnd, source)
    circuit.B("sigma", "out", circuit.gnd, voltage_expression=sigma_expr(spec, "v(inp)"))
    return circuit


def comparator_dc_bench(spec: ActivationSpec, span_v: float) -> Testbench:
    """The DC transfer curve over ``±span_v`` (V): probes ``out``, ``inp``."""
    if not (math.isfinite(span_v) and span_v > 0):
        raise ConfigError(f"comparator sweep span must be > 0 V, got {span_v!r}")
    step = 2 * span_v / COMPARATOR_SWEEP_POINTS
    deck = NetlistDeck(_comparator_circuit(f"{spec.name} comparator DC transfer", spec, "dc 0"),
                       analyses=[DCSweep("Vin", -span_v, span_v, step)], options=dict(PRECISE_OP_OPTIONS),
                       saves=["v(out)", "v(inp)"])
    return Testbench("dc", deck, {"out": "v(out)", "inp": "v(inp)"},
                     f"DC transfer, input {-span_v:g} V … {span_v:g} V in {step:g} V steps", {"span_v": span_v})


def comparator_ac_bench(spec: ActivationSpec) -> Testbench:
    """Small-signal gain at 0 V in: the B-source linearized at its operating point (flat in frequency)."""
    deck = NetlistDeck(_comparator_circuit(f"{spec.name} comparator small-signal gain", spec, "dc 0 ac 1"),
                       analyses=[ACSweep(1.0, 10.0, 1)], saves=["v(out)", "v(inp)"])
    return Testbench("ac", deck, {"out": "v(out)", "inp": "v(inp)"}, "small-signal gain at 0 V input (.ac at the .op)")


def comparator_testbenches(spec: ActivationSpec, span_v: float) -> dict[str, Testbench]:
    """The DC transfer bench and the small-signal AC bench."""
    benches = [comparator_dc_bench(spec, span_v), comparator_ac_bench(spec)]
    return {b.analysis: b for b in benches}
