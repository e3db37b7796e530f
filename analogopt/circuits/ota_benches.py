"""Testbenches of the transistor-level amplifiers of :mod:`analogopt.blocks.miller_ota` at one PVT point
of :mod:`analogopt.pdk.gf180mcu`. Pure deck builders: :mod:`analogopt.cosim.transistor_ota` runs them.

- ``devices``: the kit's 3.3 V NMOS and PMOS (W = 10 µm) at each length of a design, gate swept at
  |V_DS| = supply/2: the gm/I_D tables the sizing procedure reads;
- ``ac``: the operating point (every transistor's gm, gds, I_D, V_DS, V_DSAT saved) and the open-loop
  gain, the loop closed for DC only through an inductor so the output sits at the input common mode
  (mid supply) whatever the offset, into the load capacitor;
- ``step``: the unity-gain follower driven by a step about mid supply into the load capacitor (slew,
  settling, the macromodel fit);
- ``swing``: an inverting amplifier of gain −1 (100 kΩ / 100 kΩ about mid supply) with its input swept:
  where the output stops following;
- ``noise``: the follower under ``.noise``: input-referred density;
- ``offset``: the follower at its operating point (with the kit's mismatch statistics switched on for
  Monte Carlo), offset = v(out) − v(inp).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from PySpice.Spice.Netlist import Circuit

from ..blocks.gm_ota import GmOTA
from ..blocks.miller_ota import MillerOTA
from ..blocks.ota import OTAModel
from ..pdk.gf180mcu import Gf180mcu
from ..spice.netlist import ACSweep, DCSweep, NetlistDeck, OperatingPoint, Transient, format_value
from .testbench import NoiseSweep, Testbench

#: Gate sweep of the device tables (V): start, stop, step of |V_GS|.
VGS_SWEEP_V = (0.2, 1.8, 0.01)
#: The reference width of the device tables (µm).
TABLE_W_UM = 10.0
#: AC sweep of the open-loop bench (Hz) and its density.
AC_RANGE_HZ = (1.0, 1e9)
AC_POINTS_PER_DECADE = 40
#: DC servo of the open-loop bench: L (H) with C (F) puts its corner far below AC_RANGE_HZ[0].
SERVO_L_H, SERVO_C_F = 1e9, 1.0
#: Resistors of the swing bench (Ω).
SWING_R_OHM = 1e5
#: Device parameters saved at the operating point.
OP_QUANTITIES = ("gm", "gds", "id", "vds", "vdsat", "vth")


def _circuit(title: str, pdk: Gf180mcu, ota: MillerOTA | GmOTA | None = None) -> Circuit:
    circuit = Circuit(title)
    circuit.raw_spice = "\n".join(pdk.lines()) + "\n" + (ota.subckt() if ota is not None else "")
    return circuit


def _dut(ota: MillerOTA | GmOTA, inp: str, inn: str, out: str) -> str:
    return f"Xdut {inp} {inn} {out} vdd 0 {ota.name}\n"


def device_paths(ota: MillerOTA | GmOTA) -> dict[str, tuple[str, int]]:
    """Transistor → (path of its first finger's model in the benches' instance ``Xdut``, e.g.
    ``xdut.xm1.m0``; fingers)."""
    return {m: (f"xdut.{p}", n) for m, (p, n) in ota.devices().items()}


def op_vectors(ota: MillerOTA | GmOTA) -> list[str]:
    return [f"@m.{p}[{q}]" for p, _ in device_paths(ota).values() for q in OP_QUANTITIES]


def device_table_bench(pdk: Gf180mcu, lengths_um: Sequence[float]) -> Testbench:
    """One NMOS ``Xn<k>`` and one PMOS ``Xp<k>`` per length; probes ``n<k>``/``p<k>`` → the device path."""
    circuit = _circuit("GF180MCU 3.3 V device tables for gm/ID sizing", pdk)
    half = pdk.supply_v / 2
    lines = [f"Vgs g 0 {format_value(VGS_SWEEP_V[0])}", f"Vds d 0 {format_value(half)}",
             "Egp gp 0 g 0 -1", "Edp dp 0 d 0 -1"]
    probes = {}
    for k, length in enumerate(lengths_um):
        lines.append(f"Xn{k} d g 0 0 nmos_3p3 w={TABLE_W_UM:g}u l={length:.4g}u")
        lines.append(f"Xp{k} dp gp 0 0 pmos_3p3 w={TABLE_W_UM:g}u l={length:.4g}u")
        probes[f"n{k}"], probes[f"p{k}"] = f"xn{k}.m0", f"xp{k}.m0"
    circuit.raw_spice += "\n".join(lines) + "\n"
    saves = [f"@m.{p}[{q}]" for p in probes.values() for q in ("id", "gm", "gds")]
    deck = NetlistDeck(circuit, analyses=[DCSweep("Vgs", *VGS_SWEEP_V)], options=pdk.options(), saves=saves)
    return Testbench("devices", deck, probes, f"W = {TABLE_W_UM:g} µm NMOS/PMOS at L = "
                     f"{', '.join(f'{x:g}' for x in lengths_um)} µm, |V_GS| swept, |V_DS| = {half:g} V, {pdk.label}",
                     {"vds_v": half})


def open_loop_bench(ota: MillerOTA, pdk: Gf180mcu, c_load_f: float) -> Testbench:
    """Operating point and open-loop AC (module docstring); probes ``out``, ``inp``, ``inn``, ``supply``
    (the current into ``Vdd``'s positive terminal, A)."""
    circuit = _circuit("two-stage Miller op-amp: operating point and open-loop gain", pdk, ota)
    vcm = pdk.supply_v / 2
    circuit.raw_spice += (f"Vdd vdd 0 {format_value(pdk.supply_v)}\nVin inp 0 dc {format_value(vcm)} ac 1\n"
                          + _dut(ota, "inp", "inn", "out")
                          + f"Ldc out inn {format_value(SERVO_L_H)}\nCac inn 0 {format_value(SERVO_C_F)}\n"
                          f"Cload out 0 {format_value(c_load_f)}\n")
    deck = NetlistDeck(circuit, analyses=[OperatingPoint(), ACSweep(*AC_RANGE_HZ, AC_POINTS_PER_DECADE)],
                       options=pdk.options(), saves=["v(out)", "v(inp)", "v(inn)", "i(vdd)", *op_vectors(ota)])
    return Testbench("ac", deck, {"out": "v(out)", "inp": "v(inp)", "inn": "v(inn)", "supply": "i(vdd)"},
                     f"open loop into {c_load_f * 1e12:g} pF, DC loop through L = {SERVO_L_H:g} H / C = "
                     f"{SERVO_C_F:g} F, input common mode {vcm:g} V, {pdk.label}", {"v_cm": vcm})


def step_bench(ota: MillerOTA, pdk: Gf180mcu, c_load_f: float, step_v: float, stop_s: float) -> Testbench:
    """The follower stepped from ``vcm − step/2`` to ``vcm + step/2`` at ``stop_s/10`` (rise 1 ns) and
    back at ``stop_s·0.55``; probes ``out``, ``inp``, ``supply``."""
    circuit = _circuit("two-stage Miller op-amp: unity-gain follower step", pdk, ota)
    vcm = pdk.supply_v / 2
    lo, hi = vcm - step_v / 2, vcm + step_v / 2
    t0, width = stop_s / 10, stop_s * 0.45
    circuit.raw_spice += (f"Vdd vdd 0 {format_value(pdk.supply_v)}\n"
                          f"Vin inp 0 pulse({format_value(lo)} {format_value(hi)} {format_value(t0)} 1n 1n "
                          f"{format_value(width)} {format_value(2 * stop_s)})\n"
                          + _dut(ota, "inp", "out", "out") + f"Cload out 0 {format_value(c_load_f)}\n")
    deck = NetlistDeck(circuit, analyses=[Transient(stop_s, step_s=stop_s / 2000, max_step_s=stop_s / 2000,
                                                    uic=False)],
                       options=pdk.options(), saves=["v(out)", "v(inp)", "i(vdd)"])
    return Testbench("step", deck, {"out": "v(out)", "inp": "v(inp)", "supply": "i(vdd)"},
                     f"unity-gain follower, {step_v:g} V step about {vcm:g} V at {t0:.3g} s and back at "
                     f"{t0 + width:.3g} s, into {c_load_f * 1e12:g} pF, {pdk.label}",
                     {"low_v": lo, "high_v": hi, "rise_at_s": t0, "fall_at_s": t0 + width})


def swing_bench(ota: MillerOTA, pdk: Gf180mcu, c_load_f: float) -> Testbench:
    """Inverting amplifier of gain −1 about mid supply, input swept over the supply; probes ``out``,
    ``in``."""
    circuit = _circuit("two-stage Miller op-amp: output swing, inverting gain -1", pdk, ota)
    vcm = pdk.supply_v / 2
    r = format_value(SWING_R_OHM)
    circuit.raw_spice += (f"Vdd vdd 0 {format_value(pdk.supply_v)}\nVcm cm 0 {format_value(vcm)}\n"
                          f"Vin in 0 {format_value(vcm)}\nRin in inn {r}\nRf inn out {r}\n"
                          + _dut(ota, "cm", "inn", "out") + f"Cload out 0 {format_value(c_load_f)}\n")
    step = pdk.supply_v / 330
    deck = NetlistDeck(circuit, analyses=[DCSweep("Vin", 0.0, pdk.supply_v, step)], options=pdk.options(),
                       saves=["v(out)", "v(in)"])
    return Testbench("swing", deck, {"out": "v(out)", "in": "v(in)"},
                     f"inverting amplifier, gain −1 (2 × {SWING_R_OHM / 1e3:g} kΩ about {vcm:g} V), input swept "
                     f"0 … {pdk.supply_v:g} V, {pdk.label}", {"v_cm": vcm})


def transfer_bench(ota: MillerOTA, pdk: Gf180mcu, c_load_f: float) -> Testbench:
    """Gain −1 about mid supply without loading the output: ``inn`` is ``(in + out)/2`` from two stacked
    VCVSs (the resistive swing bench's 2·R would load the ~200 kΩ open-loop output and lower the gain
    seen); the input swept over the supply moves the output across its range with the inputs at mid
    supply. Probes ``out``, ``inn``, ``cm``."""
    circuit = _circuit("two-stage Miller op-amp: DC transfer, gain -1, unloaded output", pdk, ota)
    vcm = pdk.supply_v / 2
    circuit.raw_spice += (f"Vdd vdd 0 {format_value(pdk.supply_v)}\nVcm cm 0 {format_value(vcm)}\n"
                          f"Vin in 0 {format_value(vcm)}\nEhalf nh 0 in 0 0.5\nEinn inn nh out 0 0.5\n"
                          + _dut(ota, "cm", "inn", "out") + f"Cload out 0 {format_value(c_load_f)}\n")
    deck = NetlistDeck(circuit, analyses=[DCSweep("Vin", 0.0, pdk.supply_v, pdk.supply_v / 330)],
                       options=pdk.options(), saves=["v(out)", "v(inn)", "v(cm)"])
    return Testbench("transfer", deck, {"out": "v(out)", "inn": "v(inn)", "cm": "v(cm)"},
                     f"gain −1 about {vcm:g} V through a VCVS divider (no load but {c_load_f * 1e12:g} pF), "
                     f"input swept 0 … {pdk.supply_v:g} V, {pdk.label}", {"v_cm": vcm})


def follower_bench(ota: MillerOTA, pdk: Gf180mcu, c_load_f: float) -> Testbench:
    """Unity-gain follower, input swept over the supply: where the output tracks the input is the
    input common-mode range and the output swing together; probes ``out``, ``inp``."""
    circuit = _circuit("two-stage Miller op-amp: unity-gain follower, input swept", pdk, ota)
    circuit.raw_spice += (f"Vdd vdd 0 {format_value(pdk.supply_v)}\nVin inp 0 {format_value(pdk.supply_v / 2)}\n"
                          + _dut(ota, "inp", "out", "out") + f"Cload out 0 {format_value(c_load_f)}\n")
    deck = NetlistDeck(circuit, analyses=[DCSweep("Vin", 0.0, pdk.supply_v, pdk.supply_v / 330)],
                       options=pdk.options(), saves=["v(out)", "v(inp)"])
    return Testbench("follower", deck, {"out": "v(out)", "inp": "v(inp)"},
                     f"unity-gain follower, input swept 0 … {pdk.supply_v:g} V, {pdk.label}",
                     {"v_cm": pdk.supply_v / 2})


def noise_bench(ota: MillerOTA, pdk: Gf180mcu) -> Testbench:
    """The follower under ``.noise`` from 1 Hz to 100 MHz; probes the two densities (V/√Hz)."""
    circuit = _circuit("two-stage Miller op-amp: noise, unity-gain follower", pdk, ota)
    vcm = pdk.supply_v / 2
    circuit.raw_spice += (f"Vdd vdd 0 {format_value(pdk.supply_v)}\nVin inp 0 dc {format_value(vcm)} ac 1\n"
                          + _dut(ota, "inp", "out", "out"))
    deck = NetlistDeck(circuit, analyses=[NoiseSweep("out", "Vin", 1.0, 1e8, 10)], options=pdk.options())
    return Testbench("noise", deck, {"output_density": "onoise_spectrum", "input_density": "inoise_spectrum"},
                     f"unity-gain follower, .noise v(out) Vin, 1 Hz … 100 MHz, {pdk.label}", {"v_cm": vcm})


def offset_bench(ota: MillerOTA, pdk: Gf180mcu) -> Testbench:
    """The follower at its operating point; ``pdk.statistical = "mismatch"`` with a seed gives one Monte
    Carlo sample of the input offset. Probes ``out``, ``inp``."""
    circuit = _circuit("two-stage Miller op-amp: input offset, unity-gain follower", pdk, ota)
    vcm = pdk.supply_v / 2
    circuit.raw_spice += (f"Vdd vdd 0 {format_value(pdk.supply_v)}\nVin inp 0 {format_value(vcm)}\n"
                          + _dut(ota, "inp", "out", "out"))
    deck = NetlistDeck(circuit, analyses=[OperatingPoint()], options=pdk.options(), saves=["v(out)", "v(inp)"])
    return Testbench("offset", deck, {"out": "v(out)", "inp": "v(inp)"},
                     f"unity-gain follower at {vcm:g} V, {pdk.label}, statistical {pdk.statistical}"
                     + (f", seed {pdk.seed}" if pdk.seed is not None else ""), {"v_cm": vcm})


def step_time_s(gbw_hz: float) -> float:
    """A step bench long enough for settling: 40 time constants of the closed loop, twice."""
    return 2 * 40 / (2 * math.pi * gbw_hz) * 2


# ------------------------------------------------------------------------ the fitted macromodel's benches
def follower_ac_bench(ota: MillerOTA, pdk: Gf180mcu, c_load_f: float) -> Testbench:
    """The unity-gain follower's closed-loop AC response into the load; probes ``out``."""
    circuit = _circuit("two-stage Miller op-amp: unity-gain follower, closed-loop AC", pdk, ota)
    vcm = pdk.supply_v / 2
    circuit.raw_spice += (f"Vdd vdd 0 {format_value(pdk.supply_v)}\nVin inp 0 dc {format_value(vcm)} ac 1\n"
                          + _dut(ota, "inp", "out", "out") + f"Cload out 0 {format_value(c_load_f)}\n")
    deck = NetlistDeck(circuit, analyses=[ACSweep(*AC_RANGE_HZ, AC_POINTS_PER_DECADE)], options=pdk.options(),
                       saves=["v(out)"])
    return Testbench("follower_ac", deck, {"out": "v(out)"},
                     f"unity-gain follower, AC {AC_RANGE_HZ[0]:g} … {AC_RANGE_HZ[1]:g} Hz, {pdk.label}", {"v_cm": vcm})


def macro_follower_benches(model: Any, c_load_f: float, step: Testbench, v_cm: float, stop_s: float) -> dict[str, Testbench]:
    """The same follower step (levels of ``step``) and closed-loop AC with an op-amp macromodel
    (:class:`~analogopt.blocks.opamp.OpAmpModel`) in place of the transistors."""
    from ..blocks.opamp import add_opamp

    lv = step.levels
    width = lv["fall_at_s"] - lv["rise_at_s"]
    tran = Circuit("op-amp macromodel fitted to the transistor op-amp: follower step")
    tran.raw_spice = (f"Vin inp 0 pulse({format_value(lv['low_v'])} {format_value(lv['high_v'])} "
                      f"{format_value(lv['rise_at_s'])} 1n 1n {format_value(width)} {format_value(2 * stop_s)})\n"
                      f"Cload out 0 {format_value(c_load_f)}\n")
    add_opamp(tran, "dut", "inp", "out", "out", model)
    ac = Circuit("op-amp macromodel fitted to the transistor op-amp: follower AC")
    ac.raw_spice = f"Vin inp 0 dc {format_value(v_cm)} ac 1\nCload out 0 {format_value(c_load_f)}\n"
    add_opamp(ac, "dut", "inp", "out", "out", model)
    return {
        "macro_step": Testbench("macro_step", NetlistDeck(tran, analyses=[Transient(stop_s, step_s=stop_s / 2000,
                                                                                    max_step_s=stop_s / 2000, uic=False)],
                                                          saves=["v(out)", "v(inp)"]),
                                {"out": "v(out)", "inp": "v(inp)"}, "the fitted macromodel's follower step", dict(lv)),
        "macro_follower_ac": Testbench("macro_follower_ac", NetlistDeck(ac, analyses=[ACSweep(*AC_RANGE_HZ, AC_POINTS_PER_DECADE)],
                                                                        saves=["v(out)"]),
                                       {"out": "v(out)"}, "the fitted macromodel's follower AC", {"v_cm": v_cm}),
    }


# ---------------------------------------------------------------------- the integrator's five-transistor OTA
#: Tolerances that resolve nA output currents of a µS transconductor (ngspice's defaults: 1 pA abstol,
#: 1e-3 reltol, 0.1 % of gm).
PRECISE_OPTIONS = {"reltol": 1e-7, "abstol": 1e-15}
#: Steps of the OTA's DC transfer sweep over its span.
GM_TRANSFER_STEPS = 600


def gm_transfer_bench(ota: GmOTA, pdk: Gf180mcu, span_v: float) -> Testbench:
    """Operating point, then the DC transfer into a short: ``Vout`` holds the output at mid supply, ``inn``
    sits at mid supply and ``Vd`` (from ``inn``'s level to ``inp``) sweeps ±``span_v``. Probes
    ``out_current`` (A, the OTA's output current into ``Vout``), ``supply`` (A into ``Vdd``)."""
    circuit = _circuit("five-transistor OTA: operating point and DC transfer into a short", pdk, ota)
    vcm = pdk.supply_v / 2
    circuit.raw_spice += (f"Vdd vdd 0 {format_value(pdk.supply_v)}\nVcm cm 0 {format_value(vcm)}\nVd inp cm 0\n"
                          f"Vout out 0 {format_value(vcm)}\n" + _dut(ota, "inp", "cm", "out"))
    step = 2 * span_v / GM_TRANSFER_STEPS
    deck = NetlistDeck(circuit, analyses=[OperatingPoint(), DCSweep("Vd", -span_v, span_v, step)],
                       options={**pdk.options(), **PRECISE_OPTIONS}, saves=["i(vout)", "i(vdd)", *op_vectors(ota)])
    return Testbench("transfer", deck, {"out_current": "i(vout)", "supply": "i(vdd)"},
                     f"output held at {vcm:g} V, differential input swept ±{span_v * 1e3:g} mV in {step * 1e3:.3g} mV "
                     f"steps, {pdk.label}", {"v_cm": vcm})


def gm_output_bench(ota: GmOTA, pdk: Gf180mcu, drive_v: float) -> Testbench:
    """Output current against the output voltage (``Vout`` swept over the supply) with the differential
    input ``drive_v`` (V, 0 for the output resistance): the output's compliance. Probe ``out_current``."""
    circuit = _circuit("five-transistor OTA: output current against output voltage", pdk, ota)
    vcm = pdk.supply_v / 2
    circuit.raw_spice += (f"Vdd vdd 0 {format_value(pdk.supply_v)}\nVcm cm 0 {format_value(vcm)}\n"
                          f"Vd inp cm {format_value(drive_v)}\nVout out 0 {format_value(vcm)}\n"
                          + _dut(ota, "inp", "cm", "out"))
    deck = NetlistDeck(circuit, analyses=[DCSweep("Vout", 0.0, pdk.supply_v, pdk.supply_v / 660)],
                       options={**pdk.options(), **PRECISE_OPTIONS}, saves=["i(vout)"])
    return Testbench("output", deck, {"out_current": "i(vout)"},
                     f"output swept 0 … {pdk.supply_v:g} V, differential input {drive_v * 1e3:+.3g} mV, {pdk.label}",
                     {"v_cm": vcm, "drive_v": drive_v})


def gm_ac_bench(ota: GmOTA, pdk: Gf180mcu) -> Testbench:
    """Transconductance against frequency into a short (``Vout`` at mid supply), the input an AC unit.
    Probes ``out_current``, ``inp``."""
    circuit = _circuit("five-transistor OTA: transconductance into a short", pdk, ota)
    vcm = pdk.supply_v / 2
    circuit.raw_spice += (f"Vdd vdd 0 {format_value(pdk.supply_v)}\nVcm cm 0 {format_value(vcm)}\n"
                          f"Vin inp 0 dc {format_value(vcm)} ac 1\nVout out 0 {format_value(vcm)}\n"
                          + _dut(ota, "inp", "cm", "out"))
    deck = NetlistDeck(circuit, analyses=[ACSweep(*AC_RANGE_HZ, AC_POINTS_PER_DECADE)], options=pdk.options(),
                       saves=["i(vout)", "v(inp)"])
    return Testbench("gm_ac", deck, {"out_current": "i(vout)", "inp": "v(inp)"},
                     f"i(Vout)/v(inp) with the output held at {vcm:g} V, {AC_RANGE_HZ[0]:g} … {AC_RANGE_HZ[1]:g} Hz, "
                     f"{pdk.label}", {"v_cm": vcm})


def integrator_bench(cell: GmOTA | OTAModel, pdk: Gf180mcu, c_int_f: float, step_v: float, t_step_s: float,
                     t_stop_s: float) -> Testbench:
    """The OTA-C integrator of 000 Eq. 10: ``cell`` (the transistor OTA, or its fitted macromodel about mid
    supply) into ``c_int_f`` to ground, the output started at mid supply (``.ic``), the differential input
    stepped from 0 to ``step_v`` at ``t_step_s``. Probes ``out``."""
    vcm = pdk.supply_v / 2
    transistor = isinstance(cell, GmOTA)
    circuit = _circuit("OTA-C integrator, input step" + ("" if transistor else " (fitted macromodel)"), pdk,
                       cell if transistor else None)
    rise = t_stop_s * 1e-4
    circuit.raw_spice += (f"Vdd vdd 0 {format_value(pdk.supply_v)}\nVcm cm 0 {format_value(vcm)}\n"
                          f"Vin inp 0 PWL(0 {vcm:.6g} {t_step_s:.6g} {vcm:.6g} {t_step_s + rise:.6g} "
                          f"{vcm + step_v:.6g})\nCint out 0 {format_value(c_int_f)}\n.ic v(out)={vcm:.6g}\n")
    circuit.raw_spice += (_dut(cell, "inp", "cm", "out") if transistor
                          else "\n".join(cell.lines("dut", "inp", "cm", "out", "cm")) + "\n")
    deck = NetlistDeck(circuit, analyses=[Transient(t_stop_s, step_s=t_stop_s / 2000, max_step_s=t_stop_s / 500, uic=False)],
                       options={**pdk.options(), "reltol": 1e-5}, saves=["v(out)", "v(inp)"])
    return Testbench("integrator", deck, {"out": "v(out)", "inp": "v(inp)"},
                     f"OTA into C = {c_int_f * 1e12:.3g} pF from {vcm:g} V, input step {step_v * 1e3:g} mV at "
                     f"{t_step_s * 1e6:.3g} µs, {pdk.label}", {"v_cm": vcm})
