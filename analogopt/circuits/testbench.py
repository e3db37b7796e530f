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

A user's op-amp subcircuit (:class:`~analogopt.blocks.user_block.UserOpAmp`) gets the same ``ac``,
``noise``, ``offset`` and ``slew`` benches on its split supply (``±supply_v/2``, mid-supply at ground),
over fixed sweeps since nothing is known of its poles beforehand; the slew bench is timed by the
unity-gain frequency the ``ac`` bench measured.

The OTA benches hold the reference and the output bias at mid-swing ``(v_low + v_high)/2``:

``gm``
    The output held by a source (a short): its current over the differential input is the
    transconductance, ``gm/(1 + jf/bw_hz)``, and r_out carries no current.
``gain``
    The open-circuit voltage gain, the loop closed for DC only as in the op-amp's ``ac`` bench, with an
    inductor sized to the OTA's output resistance; optionally a load capacitor.
``rout``
    Inputs at the reference, the output driven with an AC unit: ``−1/i`` is r_out.
``transfer``
    A DC sweep of the differential input into the short: the null is minus the offset.
``swing``
    Two OTAs with a large input of either sign, their outputs swept together past both limits through
    0 V ammeters: the current fades to zero at v_high (v_low) over the knee.

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
from ..blocks.opamp import SLEW_CAP_MARGIN, OpAmpModel, add_opamp
from ..blocks.ota import OTAModel
from ..blocks.user_block import UserOpAmp, supply_sources
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
#: The fewest linear ranges a slew step may span: 2 are left at its 80 % point, and its 20–80 % slope,
#: SR·6/ln(sinh 8/sinh 2), is within 0.3 % of the slew rate (5 ranges: 4.6 % low). A step the rails cut
#: shorter hardly slews.
SLEW_MIN_LINEAR_RANGES = 10.0
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


def _dc_servo(circuit: Circuit, start_hz: float, *, min_l_h: float = 0.0) -> tuple[float, float]:
    """Close the loop for DC only: L from ``out`` to ``inn`` and C (1 F) from ``inn`` to ground, their corner
    LC_CORNER_BELOW under the sweep's start (L at least ``min_l_h``); returns (L in H, C in F)."""
    c_ac = 1.0
    l_dc = max(min_l_h, 1.0 / ((2 * math.pi * start_hz / LC_CORNER_BELOW) ** 2 * c_ac))
    circuit.L("dc", "out", "inn", l_dc)
    circuit.C("ac", "inn", circuit.gnd, c_ac)
    return l_dc, c_ac


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
    l_dc, c_ac = _dc_servo(circuit, start)
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
    step = max(1.0, SLEW_STEP_LINEAR_RANGES * model.slew_linear_range_v)
    if model.v_low is not None:
        step = min(step, 0.8 * (model.v_high - model.v_low))  # inside the rails, which the model's cap covers
    elif step / 2 > model.slew_cap_v / SLEW_CAP_MARGIN:
        # about 0 V the output spans ±step/2, where the rate SR·(1 − v/cap) must hold within 10 %
        raise ConfigError(
            f"the slew bench steps {step:g} V ({SLEW_STEP_LINEAR_RANGES:g} linear ranges SR/(2π·GBW)), and this "
            f"op-amp's slewing stage reaches {model.slew_cap_v:.3g} V: its rate would fall more than 10 % within "
            f"the step; raise gain to {SLEW_CAP_MARGIN * SLEW_STEP_LINEAR_RANGES / 2:g} V/V or more")
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


# ------------------------------------------------------------------------------------------ OTA
#: Reactance of the open-circuit gain bench's DC-servo inductor at the first swept frequency, in units of
#: the OTA's output resistance. The inductor loads the output in quadrature, so it moves |A| by about
#: (1e-4)²/2 and the phase by 1e-4 rad; the op-amp bench's fixed LC corner would put 160 Ω across a 1 TΩ
#: output (1 kHz, its first frequency at bw_hz = 1 MHz).
OTA_SERVO_REACTANCE_FACTOR = 1e4
#: Steps per knee of the swing bench's DC sweep: linear interpolation on the exponential fade then errs by
#: about (1/100)²/8 of a knee (measured: 3e-6 of the knee or less), and the default 3.3 V swing is 17 500
#: points, 0.15 s of ngspice.
OTA_SWING_STEPS_PER_KNEE = 100
#: The swing bench sweeps the output this many knees past each limit.
OTA_SWING_MARGIN_KNEES = 5
#: Smallest differential input (V) of the swing bench; it is raised until r_out's current at the limits
#: is at most 1 % of gm times the input (:func:`ota_swing_input_v`).
OTA_SWING_INPUT_V = 0.1
#: The transfer bench sweeps the differential input over ±max(this, 2·|offset_v|) V.
OTA_TRANSFER_SPAN_V = 0.1
#: Steps of the transfer bench's sweep (the transfer is a line; linear interpolation of its null is exact).
OTA_TRANSFER_STEPS = 400


def ota_reference_v(model: OTAModel) -> float:
    """The reference and output bias (V) of every OTA bench: the middle of the swing,
    ``(v_low + v_high)/2``, where the headroom factor of both directions is largest."""
    return 0.5 * (model.v_low + model.v_high)


def ota_output_pole_hz(model: OTAModel, c_load_f: float) -> float | None:
    """``1/(2π·r_out·C_L)`` in Hz, the pole a load capacitor adds to the voltage gain; None unloaded."""
    return None if c_load_f == 0 else 1.0 / (2 * math.pi * model.r_out_ohm * c_load_f)


def ota_gain_range_hz(model: OTAModel, c_load_f: float = 0.0) -> tuple[float, float]:
    """(start, stop) in Hz of the voltage-gain sweep: three decades below the lower pole (``bw_hz``, or
    the output pole with a load capacitor) to two decades above ``bw_hz`` and, loaded, the unity-gain
    frequency ``≈ gm/(2π·C_L)``."""
    output_pole = ota_output_pole_hz(model, c_load_f)
    low = model.bw_hz if output_pole is None else min(model.bw_hz, output_pole)
    high = model.bw_hz if output_pole is None else max(model.bw_hz, model.gm_s / (2 * math.pi * c_load_f))
    return decade_floor(low / 1e3), decade_ceil(100.0 * high)


def ota_gm_range_hz(model: OTAModel) -> tuple[float, float]:
    """(start, stop) in Hz of the transconductance sweep: three decades below ``bw_hz`` to two above."""
    return decade_floor(model.bw_hz / 1e3), decade_ceil(100.0 * model.bw_hz)


def _ota_circuit(title: str, model: OTAModel, inp: str, inn: str, out: str) -> Circuit:
    """A circuit with the reference source ``Vref`` at :func:`ota_reference_v` and one OTA ``dut``."""
    circuit = Circuit(title)
    circuit.V("ref", "ref", circuit.gnd, ota_reference_v(model))
    circuit.raw_spice += "\n".join(model.lines("dut", inp, inn, out, "ref")) + "\n"
    return circuit


def ota_gm_bench(model: OTAModel) -> Testbench:
    """Transconductance into a short: ``Vout`` holds the output at the reference (so r_out carries no
    current) and its current over the differential input is ``gm/(1 + jf/bw_hz)``. Probes
    ``out_current`` (A, the OTA's output current flowing into ``Vout``), ``inp``, ``inn``."""
    start, stop = ota_gm_range_hz(model)
    ref = ota_reference_v(model)
    circuit = _ota_circuit("OTA transconductance, output into a short", model, "inp", "ref", "out")
    circuit.V("in", "inp", circuit.gnd, f"dc {format_value(ref)} ac 1")
    circuit.V("out", "out", circuit.gnd, ref)
    deck = NetlistDeck(circuit, analyses=[ACSweep(start, stop, AC_POINTS_PER_DECADE)],
                       saves=["v(inp)", "v(ref)", "i(vout)"])
    return Testbench("gm", deck, {"out_current": "i(vout)", "inp": "v(inp)", "inn": "v(ref)"},
                     f"transconductance i(Vout)/(v(inp) − v(inn)) with the output held at {ref:g} V (a short), "
                     f"{start:g} Hz … {stop:g} Hz", {"ref_v": ref})


def ota_gain_bench(model: OTAModel, c_load_f: float = 0.0) -> Testbench:
    """Open-circuit voltage gain ``v(out)/(v(inp) − v(inn))``, with the loop closed for DC only as in the
    op-amp's open-loop bench (a gain of 1e7 would otherwise rail on any offset), and an optional load
    capacitor ``c_load_f`` (F, 0: none) from ``out`` to the reference. Probes ``out``, ``inp``, ``inn``."""
    if not (math.isfinite(c_load_f) and c_load_f >= 0):
        raise ConfigError(f"OTA load capacitor must be ≥ 0 F, got {c_load_f!r}")
    start, stop = ota_gain_range_hz(model, c_load_f)
    ref = ota_reference_v(model)
    circuit = _ota_circuit("OTA open-circuit voltage gain, DC loop closed through L", model, "inp", "inn", "out")
    circuit.V("in", "inp", circuit.gnd, f"dc {format_value(ref)} ac 1")
    # the inductor's reactance at the lowest frequency must also dwarf r_out, which it loads
    l_dc, c_ac = _dc_servo(circuit, start, min_l_h=OTA_SERVO_REACTANCE_FACTOR * model.r_out_ohm / (2 * math.pi * start))
    load = "unloaded"
    if c_load_f > 0:
        circuit.C("load", "out", "ref", c_load_f)
        load = f"C_L = {c_load_f:g} F to the reference"
    deck = NetlistDeck(circuit, analyses=[ACSweep(start, stop, AC_POINTS_PER_DECADE)],
                       saves=["v(out)", "v(inp)", "v(inn)"])
    return Testbench("gain", deck, {"out": "v(out)", "inp": "v(inp)", "inn": "v(inn)"},
                     f"open-circuit voltage gain v(out)/(v(inp) − v(inn)), {load}, {start:g} Hz … {stop:g} Hz; DC "
                     f"feedback through L = {l_dc:.3g} H, inn held at AC ground by C = {c_ac:g} F",
                     {"ref_v": ref, "c_load_f": c_load_f})


def ota_rout_bench(model: OTAModel) -> Testbench:
    """Output resistance: both inputs at the reference, ``Vout`` drives the output at the reference with
    an AC unit; ``−1/i(Vout)`` is r_out. Probe ``out_current``."""
    ref = ota_reference_v(model)
    circuit = _ota_circuit("OTA output resistance", model, "ref", "ref", "out")
    circuit.V("out", "out", circuit.gnd, f"dc {format_value(ref)} ac 1")
    deck = NetlistDeck(circuit, analyses=[ACSweep(1.0, 10.0, 1)], saves=["i(vout)"])
    return Testbench("rout", deck, {"out_current": "i(vout)"},
                     f"output resistance −v(out)/i(Vout), inputs at the reference, output driven at {ref:g} V",
                     {"ref_v": ref})


def ota_transfer_span_v(model: OTAModel) -> float:
    """Half-width (V) of the transfer bench's input sweep: :data:`OTA_TRANSFER_SPAN_V`, or twice the
    offset when that is larger, so the null lies inside."""
    return max(OTA_TRANSFER_SPAN_V, 2.0 * abs(model.offset_v))


def ota_transfer_bench(model: OTAModel) -> Testbench:
    """DC transfer into a short: the differential input ``Vd`` (from ``inp`` to ``inn`` = the reference)
    swept over ±:func:`ota_transfer_span_v`, the output held at the reference. The input that nulls the
    output current is minus the input offset. Probes ``out_current`` (A), ``v_d`` (the sweep)."""
    span = ota_transfer_span_v(model)
    ref = ota_reference_v(model)
    circuit = _ota_circuit("OTA DC transfer and offset, output into a short", model, "inp", "ref", "out")
    circuit.V("d", "inp", "ref", 0.0)
    circuit.V("out", "out", circuit.gnd, ref)
    step = 2 * span / OTA_TRANSFER_STEPS
    deck = NetlistDeck(circuit, analyses=[DCSweep("Vd", -span, span, step)], options=dict(PRECISE_OP_OPTIONS),
                       saves=["i(vout)"])
    return Testbench("transfer", deck, {"out_current": "i(vout)"},
                     f"DC transfer i(Vout) against the differential input {-span:g} V … {span:g} V in {step:g} V "
                     f"steps, output held at {ref:g} V", {"ref_v": ref, "span_v": span})


def ota_swing_input_v(model: OTAModel) -> float:
    """The swing bench's differential input (V): at least :data:`OTA_SWING_INPUT_V` and ten times the
    offset, and large enough that r_out's current at a limit, ``(v_high − v_low)/(2·r_out)``, is at most
    1 % of ``gm`` times the input."""
    half_span = 0.5 * (model.v_high - model.v_low)
    return max(OTA_SWING_INPUT_V, 10.0 * abs(model.offset_v), 100.0 * half_span / model.dc_gain)


def ota_swing_bench(model: OTAModel) -> Testbench:
    """Output swing: two OTAs, one driven ``+V`` (pushing up) and one ``−V`` (pushing down), their
    outputs on one swept source ``Vout`` through 0 V ammeters ``Vsu``/``Vsd``; the sweep runs
    :data:`OTA_SWING_MARGIN_KNEES` knees past each limit in steps of 1/:data:`OTA_SWING_STEPS_PER_KNEE`
    knee. Probes ``current_up``, ``current_down`` (A, into the output node), ``v_out`` (the sweep)."""
    ref = ota_reference_v(model)
    v_in = ota_swing_input_v(model)
    circuit = Circuit("OTA output swing, output swept with a large input")
    circuit.V("ref", "ref", circuit.gnd, ref)
    circuit.V("up", "pu", "ref", v_in)
    circuit.V("dn", "pd", "ref", -v_in)
    circuit.V("out", "out", circuit.gnd, ref)
    circuit.V("su", "ou", "out", 0.0)
    circuit.V("sd", "od", "out", 0.0)
    circuit.raw_spice += "\n".join(model.lines("up", "pu", "ref", "ou", "ref") + model.lines("dn", "pd", "ref", "od", "ref")) + "\n"
    margin, step = OTA_SWING_MARGIN_KNEES * model.knee_v, model.knee_v / OTA_SWING_STEPS_PER_KNEE
    start, stop = model.v_low - margin, model.v_high + margin
    # at ngspice's default reltol a sweep point is accepted after one Newton step from the last one, which
    # leaves the fade's curvature times the step² in the current (5e-5 of it at knee/100 steps)
    deck = NetlistDeck(circuit, analyses=[DCSweep("Vout", start, stop, step)], options=dict(PRECISE_OP_OPTIONS),
                       saves=["i(vsu)", "i(vsd)"])
    return Testbench("swing", deck, {"current_up": "i(vsu)", "current_down": "i(vsd)"},
                     f"output current against the output voltage {start:g} V … {stop:g} V in {step:g} V steps, "
                     f"differential input +{v_in:g} V (pushing up) and −{v_in:g} V (pushing down)",
                     {"ref_v": ref, "input_v": v_in})


def ota_testbenches(model: OTAModel, c_load_f: float = 0.0) -> dict[str, Testbench]:
    """Every OTA bench, by analysis name: ``gm``, ``gain``, ``rout``, ``transfer``, ``swing``."""
    benches = [ota_gm_bench(model), ota_gain_bench(model, c_load_f), ota_rout_bench(model),
               ota_transfer_bench(model), ota_swing_bench(model)]
    return {b.analysis: b for b in benches}


# ------------------------------------------------------------------------------------------ user op-amp
#: Open-loop sweep (Hz) of a user part: nothing is known of its poles before it is measured, so the sweep
#: spans what an op-amp has, a dominant pole down to 0.1 Hz (A0 then read 5e-5 low at the first point) and
#: a unity-gain frequency up to 100 MHz with two decades to spare.
USER_AC_RANGE_HZ: tuple[float, float] = (1e-3, 1e10)
#: Noise sweep (Hz) of a user part.
USER_NOISE_RANGE_HZ: tuple[float, float] = (1.0, 1e8)
#: The servo inductor's reactance (Ω) at the first frequency of a user part's open-loop sweep: 1e4 times a
#: 1 GΩ output, so even a single-stage part with a high-impedance output is not loaded by it.
USER_SERVO_REACTANCE_OHM = 1e13
#: Slew bench of a user part: the step is this fraction of the total supply (1 V without one), centred on
#: mid-supply, inside any part's common-mode and output ranges but far beyond its input stage's linear range.
USER_SLEW_STEP_FRACTION = 0.5
#: The slew bench lasts this many small-signal time constants ``1/(2π·f_unity)`` of the β = 1 loop (from
#: the open-loop measurement): a part slower than ``step·2π·f_unity/2000`` V/s does not reach 80 %.
USER_SLEW_WINDOW_TAUS = 2000.0
#: Time steps over the slew window.
USER_SLEW_STEPS = 4000


def _user_circuit(title: str, part: UserOpAmp, source: str, *, follower: bool) -> Circuit:
    """``part`` on its split supply (:func:`~analogopt.blocks.user_block.supply_sources`: mid-supply at
    ground), ``Vin`` on ``inp``, ``inn`` on the output (follower) or left to the bench."""
    circuit = Circuit(title)
    lines, supplies = supply_sources(part, "s")
    part.register(circuit)
    circuit.V("in", "inp", circuit.gnd, source)
    circuit.raw_spice += lines + part.instance_lines(["dut"], ["inp"], ["out" if follower else "inn"], ["out"],
                                                     supplies)
    return circuit


def user_opamp_open_loop_bench(part: UserOpAmp) -> Testbench:
    """The open-loop AC bench of a user part (the op-amp bench of the module docstring, over
    :data:`USER_AC_RANGE_HZ`): probes ``out``, ``inp``, ``inn``."""
    start, stop = USER_AC_RANGE_HZ
    circuit = _user_circuit(f"user op-amp {part.name} open-loop gain, DC loop closed through L", part, "dc 0 ac 1",
                            follower=False)
    c_ac = 1.0
    l_dc = max(USER_SERVO_REACTANCE_OHM / (2 * math.pi * start), 1.0 / ((2 * math.pi * start / LC_CORNER_BELOW) ** 2 * c_ac))
    circuit.L("dc", "out", "inn", l_dc)
    circuit.C("ac", "inn", circuit.gnd, c_ac)
    deck = NetlistDeck(circuit, analyses=[ACSweep(start, stop, AC_POINTS_PER_DECADE)],
                       saves=["v(out)", "v(inp)", "v(inn)"])
    return Testbench("ac", deck, {"out": "v(out)", "inp": "v(inp)", "inn": "v(inn)"},
                     f"open-loop gain v(out)/(v(inp) − v(inn)), {start:g} Hz … {stop:g} Hz; DC feedback through "
                     f"L = {l_dc:.3g} H, inn held at AC ground by C = {c_ac:g} F", {"v_cm": 0.0})


def user_opamp_noise_bench(part: UserOpAmp) -> Testbench:
    """The unity-gain follower under ``.noise`` over :data:`USER_NOISE_RANGE_HZ`."""
    start, stop = USER_NOISE_RANGE_HZ
    circuit = _user_circuit(f"user op-amp {part.name} noise, unity-gain follower", part, "dc 0 ac 1", follower=True)
    deck = NetlistDeck(circuit, analyses=[NoiseSweep("out", "Vin", start, stop)])
    return Testbench("noise", deck, {"output_density": "onoise_spectrum", "input_density": "inoise_spectrum"},
                     f"unity-gain follower, .noise v(out) Vin, {start:g} Hz … {stop:g} Hz", {"v_cm": 0.0})


def user_opamp_offset_bench(part: UserOpAmp) -> Testbench:
    """The follower at ``.op`` with its input at mid-supply (0 V): probes ``out``, ``source_current``."""
    circuit = _user_circuit(f"user op-amp {part.name} offset and bias, unity-gain follower", part, "0",
                            follower=True)
    deck = NetlistDeck(circuit, analyses=[OperatingPoint()])
    return Testbench("offset", deck, {"out": "v(out)", "source_current": "i(vin)"},
                     "unity-gain follower at .op, input at mid-supply (0 V)", {"v_cm": 0.0})


def user_slew_step_v(part: UserOpAmp) -> float:
    """The slew bench's step (V): :data:`USER_SLEW_STEP_FRACTION` of ``supply_v``, or 1 V without one."""
    return 1.0 if part.supply_v is None else USER_SLEW_STEP_FRACTION * part.supply_v


def user_opamp_slew_bench(part: UserOpAmp, unity_gain_hz: float) -> Testbench:
    """The follower's rising step of :func:`user_slew_step_v` about 0 V, timed by the part's measured
    unity-gain frequency (Hz; the window is :data:`USER_SLEW_WINDOW_TAUS` time constants). Probe ``out``;
    levels ``v_start``, ``step_v``, ``delay_s``."""
    if not (math.isfinite(unity_gain_hz) and unity_gain_hz > 0):
        raise ConfigError(f"the slew bench needs the part's unity-gain frequency > 0 Hz, got {unity_gain_hz!r}")
    step = user_slew_step_v(part)
    tau = 1.0 / (2 * math.pi * unity_gain_hz)
    window = USER_SLEW_WINDOW_TAUS * tau
    delay, edge = 20 * tau, tau / 10
    v_start = -step / 2
    circuit = Circuit(f"user op-amp {part.name} slew rate, unity-gain follower")
    lines, supplies = supply_sources(part, "s")
    part.register(circuit)
    circuit.PulseVoltageSource("in", "inp", circuit.gnd, initial_value=v_start, pulsed_value=v_start + step,
                               delay_time=delay, rise_time=edge, fall_time=edge, pulse_width=10 * window,
                               period=20 * window)
    circuit.raw_spice += lines + part.instance_lines(["dut"], ["inp"], ["out"], ["out"], supplies)
    dt = window / USER_SLEW_STEPS
    deck = NetlistDeck(circuit, analyses=[Transient(delay + window, step_s=dt, max_step_s=dt, uic=False)],
                       saves=["v(out)", "v(inp)"])
    return Testbench("slew", deck, {"out": "v(out)", "inp": "v(inp)"},
                     f"unity-gain follower, {step:g} V step at {delay:g} s, {window:g} s window "
                     f"({USER_SLEW_WINDOW_TAUS:g}/(2π·f_unity))", {"v_start": v_start, "step_v": step, "delay_s": delay})


def user_opamp_testbenches(part: UserOpAmp) -> dict[str, Testbench]:
    """The benches of a user part that need nothing measured first: ``ac``, ``noise``, ``offset`` (the
    slew bench follows the open-loop measurement, :func:`user_opamp_slew_bench`)."""
    benches = [user_opamp_open_loop_bench(part), user_opamp_noise_bench(part), user_opamp_offset_bench(part)]
    return {b.analysis: b for b in benches}
