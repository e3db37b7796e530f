"""The measurements behind ``analogopt characterize``: run a block's testbenches
(:mod:`analogopt.circuits.testbench`) in ngspice and read a datasheet page out of the results, each number
beside the value the block's own parameters predict.

Blocks: the op-amp macromodels of :mod:`analogopt.blocks.opamp`, a user's op-amp subcircuit
(:class:`~analogopt.blocks.user_block.UserOpAmp`, measured only: there is no analytic model to compare
with), the OTA of :mod:`analogopt.blocks.ota`, the RC weight integrator and the comparator. What comes
out is a :class:`Characterization`; :mod:`analogopt.cosim.characterization_report` turns it into files
and :mod:`analogopt.commands.characterize` is the command.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping

from ..errors import ConfigError

if TYPE_CHECKING:  # numpy and the blocks are imported where used: building the CLI parser stays light
    import numpy as np

    from ..blocks.integrator import RCLowPass
    from ..blocks.opamp import OpAmpModel
    from ..blocks.ota import OTAModel
    from ..blocks.user_block import UserOpAmp
    from ..progress import Progress
    from ..results import RunDirectory
    from ..spice.runner import Runner, RunResult
    from ..circuits.testbench import Testbench

#: Every quantity of a datasheet page, in report order: key (unit in its name), label, unit.
QUANTITIES: tuple[tuple[str, str, str], ...] = (
    ("dc_gain_v_per_v", "DC gain", "V/V"),
    ("dc_gain_db", "DC gain", "dB"),
    ("f_3db_hz", "−3 dB frequency", "Hz"),
    ("gbw_hz", "gain-bandwidth (unity-gain frequency)", "Hz"),
    ("phase_margin_deg", "phase margin (β = 1)", "°"),
    ("noise_output_v_per_rthz_at_1khz", "output noise density at 1 kHz", "V/√Hz"),
    ("noise_input_v_per_rthz_at_1khz", "input-referred noise density at 1 kHz", "V/√Hz"),
    ("input_offset_v", "input offset", "V"),
    ("input_bias_a", "input bias current", "A"),
    ("slew_rate_v_per_s", "slew rate", "V/s"),
    ("output_low_v", "output swing, low", "V"),
    ("output_high_v", "output swing, high", "V"),
    ("transfer_max_deviation_v", "largest deviation of the DC transfer from the twin", "V"),
)

#: Labels that read differently for one block (the comparator's DC gain is its small-signal gain at 0 V).
_BLOCK_LABELS: dict[str, dict[str, str]] = {
    "comparator": {"dc_gain_v_per_v": "small-signal gain at 0 V in", "dc_gain_db": "small-signal gain at 0 V in",
                   "output_low_v": "output swing, low (over the sweep)",
                   "output_high_v": "output swing, high (over the sweep)"},
    "integrator": {"gbw_hz": "unity-gain frequency"},
}

#: The OTA's datasheet page: a transconductor is specified by its gm and where it fades, not by an
#: op-amp's closed-loop numbers. The voltage gain's unity-gain frequency and phase margin need a load
#: capacitor (``c_load_f``); unloaded they are n/a.
OTA_QUANTITIES: tuple[tuple[str, str, str], ...] = (
    ("transconductance_s", "transconductance gm (output into a short, AC at bw/1000)", "S"),
    ("transconductance_f_3db_hz", "bandwidth pole (−3 dB of the transconductance)", "Hz"),
    ("dc_transconductance_s", "DC transconductance (slope of the DC transfer at its null)", "S"),
    ("dc_gain_v_per_v", "DC voltage gain gm·r_out (open circuit)", "V/V"),
    ("dc_gain_db", "DC voltage gain gm·r_out (open circuit)", "dB"),
    ("f_3db_hz", "−3 dB frequency of the voltage gain", "Hz"),
    ("gbw_hz", "unity-gain frequency of the voltage gain (into C_L)", "Hz"),
    ("phase_margin_deg", "phase margin (into C_L, β = 1)", "°"),
    ("output_resistance_ohm", "output resistance", "Ω"),
    ("input_offset_v", "input offset (the input that nulls the output current)", "V"),
    ("output_low_v", "output swing, low (output current → 0, input −V)", "V"),
    ("output_high_v", "output swing, high (output current → 0, input +V)", "V"),
    ("knee_low_v", "knee at the low limit (current down to 1 − 1/e of mid-swing)", "V"),
    ("knee_high_v", "knee at the high limit (current down to 1 − 1/e of mid-swing)", "V"),
)

#: Each block's rows; a block not named here has :data:`QUANTITIES`.
QUANTITIES_BY_BLOCK: dict[str, tuple[tuple[str, str, str], ...]] = {"ota": OTA_QUANTITIES}

#: What a user part's report says in the analytic column: its subcircuit has no parameters to predict from.
NO_ANALYTIC_MODEL = "no analytic model"


@dataclass(frozen=True)
class ComparatorBlock:
    """An activation as its comparator circuit builds it, and the ``±span_v`` (V) its transfer is swept over."""

    spec: Any  # analogopt.problems.ActivationSpec
    span_v: float


@dataclass(frozen=True)
class OTABlock:
    """An OTA to characterize and the load capacitor ``c_load_f`` (F, 0: unloaded) of its gain bench."""

    model: OTAModel
    c_load_f: float = 0.0


# ----------------------------------------------------------------------------------------- results
@dataclass(frozen=True)
class Quantity:
    """One row of the datasheet: ``measured`` and ``analytic`` in ``unit`` (None: does not apply)."""

    key: str
    label: str
    unit: str
    measured: float | None = None
    analytic: float | None = None

    @property
    def relative_difference(self) -> float | None:
        """``(measured − analytic)/|analytic|``; None where either is missing or the analytic value is 0."""
        if not _finite(self.measured) or not _finite(self.analytic) or self.analytic == 0:
            return None
        return (self.measured - self.analytic) / abs(self.analytic)

    @property
    def difference(self) -> float | None:
        """``measured − analytic`` in ``unit``; None where either is missing. The figure to read where the
        analytic value is near 0 (an offset, a swing limit at 0 V), which makes a relative one meaningless."""
        if not _finite(self.measured) or not _finite(self.analytic):
            return None
        return self.measured - self.analytic

    def as_json(self) -> dict[str, Any]:
        return {"label": self.label, "unit": self.unit, "measured": _or_none(self.measured),
                "analytic": _or_none(self.analytic), "relative_difference": self.relative_difference,
                "difference": self.difference}


@dataclass
class Characterization:
    """What one block measured: its ``quantities`` by key, the curves for the figures, the benches run."""

    block: str
    title: str
    parameters: dict[str, Any]
    measured: dict[str, float | None] = field(default_factory=dict)
    analytic: dict[str, float | None] = field(default_factory=dict)
    curves: dict[str, Any] = field(default_factory=dict)
    benches: dict[str, str] = field(default_factory=dict)
    #: set for a block without analytic values (a user part): what the report's analytic column says
    analytic_note: str | None = None
    #: sentences for the report and the JSON file (a noiseless part, a step that never reached 80 %)
    notes: list[str] = field(default_factory=list)

    def quantities(self) -> list[Quantity]:
        labels = _BLOCK_LABELS.get(self.block, {})
        return [Quantity(key, labels.get(key, label), unit, self.measured.get(key), self.analytic.get(key))
                for key, label, unit in QUANTITIES_BY_BLOCK.get(self.block, QUANTITIES)]


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def _or_none(value: float | None) -> float | None:
    return float(value) if _finite(value) else None


# ----------------------------------------------------------------------------------------- measurements
def falling_crossing_hz(freq_hz: np.ndarray, magnitude: np.ndarray, level: float) -> float | None:
    """First frequency (Hz) where ``magnitude`` falls below ``level``, interpolated in log-log; None if it
    never does within the sweep, or starts below it."""
    import numpy as np

    below = magnitude < level
    if not below.any() or below[0]:
        return None
    i = int(np.argmax(below))
    lf, lm = np.log(freq_hz[i - 1 : i + 1]), np.log(magnitude[i - 1 : i + 1])
    return float(np.exp(lf[0] + (math.log(level) - lm[0]) * (lf[1] - lf[0]) / (lm[1] - lm[0])))


def at_frequency(freq_hz: np.ndarray, values: np.ndarray, at_hz: float, *, log_values: bool = False) -> float:
    """``values`` interpolated at ``at_hz`` on a log-frequency axis, and in log values for densities
    (linear where a value is 0: a noiseless ideal op-amp's density is)."""
    import numpy as np

    log_values = log_values and bool(np.all(values > 0))
    y = np.log(values) if log_values else values
    result = float(np.interp(math.log(at_hz), np.log(freq_hz), y))
    return math.exp(result) if log_values else result


def phase_deg(response: np.ndarray) -> np.ndarray:
    """Unwrapped phase of a complex response in degrees."""
    import numpy as np

    return np.degrees(np.unwrap(np.angle(response)))


def rising_crossing_s(time_s: np.ndarray, v: np.ndarray, level: float) -> float | None:
    """First time (s) ``v`` reaches ``level``, interpolated linearly; None if it never does."""
    import numpy as np

    above = v >= level
    if not above.any() or above[0]:
        return None
    i = int(np.argmax(above))
    t0, t1, v0, v1 = time_s[i - 1], time_s[i], v[i - 1], v[i]
    return float(t0 + (level - v0) * (t1 - t0) / (v1 - v0))


def slew_rate_v_per_s(time_s: np.ndarray, v_out: np.ndarray, step_v: float) -> float | None:
    """The 20–80 % slope (V/s) of a rising step of ``step_v`` from the output's starting value."""
    start = float(v_out[0])
    t20 = rising_crossing_s(time_s, v_out, start + 0.2 * step_v)
    t80 = rising_crossing_s(time_s, v_out, start + 0.8 * step_v)
    if t20 is None or t80 is None or not t80 > t20:
        return None
    return 0.6 * step_v / (t80 - t20)


def _magnitude_corner_hz(model: OpAmpModel, level: float) -> float | None:
    """Analytic frequency (Hz) where the model's ``|A|`` falls to ``level`` (closed form, as
    :meth:`OpAmpModel.unity_gain_hz` does for level 1); None for the ideal kind."""
    if model.gbw_hz is None:
        return None
    return two_pole_level_hz(model.gain, model.dominant_pole_hz, model.second_pole_hz, level)


def two_pole_level_hz(a0: float, p1_hz: float, p2_hz: float | None, level: float) -> float:
    """Frequency (Hz) where ``|a0/((1 + jf/p1)(1 + jf/p2))|`` (one pole without ``p2``) falls to ``level``
    (< a0): the positive root in ``x = f²`` of ``x²/(p1·p2)² + x·(1/p1² + 1/p2²) + 1 − (a0/level)² = 0``."""
    ratio = (a0 / level) ** 2
    if p2_hz is None:
        return p1_hz * math.sqrt(ratio - 1.0)
    a, b, c = 1.0 / (p1_hz * p2_hz) ** 2, 1.0 / p1_hz**2 + 1.0 / p2_hz**2, ratio - 1.0
    # the root written as 2c/(b + √(b² + 4ac)): (√(b² + 4ac) − b)/(2a) cancels to nothing when the poles lie
    # decades apart (an OTA's 0.16 Hz output pole beside its 1 MHz one lost 3 of 16 digits)
    return math.sqrt(2 * c / (b + math.sqrt(b * b + 4 * a * c)))


# ----------------------------------------------------------------------------------------- running
class BenchRunner:
    """Runs testbenches into the result directory: ``netlist_<analysis>.cir`` beside, ngspice's files in
    ``spice/<analysis>/``; checks the whole-run deadline between benches."""

    def __init__(self, runner: Runner, out: RunDirectory, progress: Progress) -> None:
        self.runner, self.out, self.progress = runner, out, progress

    def run(self, bench: Testbench) -> RunResult:
        from ..spice.runner import check_deadline

        check_deadline(self.runner, f"starting the {bench.analysis} testbench")
        self.progress.stage(f"ngspice: {bench.analysis}")
        self.out.write_text(f"netlist_{bench.analysis}.cir", bench.deck.format())
        return self.runner.run(bench.deck, run_dir=self.out.file(f"spice/{bench.analysis}"))


def _record(result: Characterization, benches: Mapping[str, Testbench]) -> None:
    result.benches.update({name: bench.purpose for name, bench in benches.items()})


def characterize_opamp(model: OpAmpModel | UserOpAmp, benches: Mapping[str, Testbench],
                       bench_runner: BenchRunner) -> Characterization:
    """Every op-amp measurement (``benches`` from :func:`~analogopt.circuits.testbench.opamp_testbenches`):
    open-loop AC, noise, offset and bias, and slew where a limit is set. A user part goes to
    :func:`characterize_user_opamp`."""
    from ..blocks.user_block import UserOpAmp
    from ..circuits.testbench import NOISE_QUOTE_HZ

    if isinstance(model, UserOpAmp):
        return characterize_user_opamp(model, benches, bench_runner)
    result = Characterization("opamp", f"op-amp ({model.kind})", _parameters(model))
    _record(result, benches)
    _opamp_ac(model, bench_runner.run(benches["ac"]), benches["ac"], result)
    _noise(bench_runner.run(benches["noise"]), benches["noise"], result, NOISE_QUOTE_HZ,
           analytic_in=model.noise_v_per_rthz,
           analytic_out=None if model.noise_v_per_rthz is None else
           model.noise_v_per_rthz * abs(_follower_gain(model, NOISE_QUOTE_HZ)))
    _opamp_offset(model, bench_runner.run(benches["offset"]), benches["offset"], result)
    if "slew" in benches:
        _opamp_slew(model, bench_runner.run(benches["slew"]), benches["slew"], result)
    return result


def _parameters(block) -> dict[str, Any]:
    return {k: v for k, v in asdict(block).items() if v is not None}


def _follower_gain(model: OpAmpModel, freq_hz: float) -> complex:
    a = complex(model.open_loop_gain(freq_hz))
    return a / (1.0 + a)


def _open_loop(run: RunResult, bench: Testbench, result: Characterization, *, user_part: bool = False) -> np.ndarray:
    """The measured half of the open-loop bench: A0, −3 dB, GBW and phase margin into ``result``, the
    Bode curve without an analytic line; returns the frequencies (Hz). ``user_part``: a user's
    subcircuit, checked for wiring first (:func:`_check_wiring`)."""
    import numpy as np

    ac = run.analysis("ac")
    p = bench.probes
    freq, gain = ac.axis, ac[p["out"]] / (ac[p["inp"]] - ac[p["inn"]])
    dc_gain = float(abs(gain[0]))
    if user_part:
        _check_wiring(float(freq[0]), complex(gain[0]))
    magnitude, phase = np.abs(gain), phase_deg(gain)
    gbw = falling_crossing_hz(freq, magnitude, 1.0)
    pm = None if gbw is None else 180.0 + at_frequency(freq, phase, gbw)
    result.measured.update(dc_gain_v_per_v=dc_gain, dc_gain_db=20 * math.log10(dc_gain), gbw_hz=gbw,
                           phase_margin_deg=pm, f_3db_hz=falling_crossing_hz(freq, magnitude, dc_gain / math.sqrt(2)))
    result.curves["bode"] = {"freq_hz": freq, "response": gain, "analytic": None, "markers": _bode_markers(gbw, pm)}
    return freq


def _check_wiring(freq_hz: float, gain: complex) -> None:
    """Refuse a user's part whose open loop at the lowest analysed frequency ``freq_hz`` does not amplify
    inp − inn (``gain``, V/V): an output nothing drives, or inputs swapped. A correct part lags by 0° (flat)
    to −90° (a pole below ``freq_hz``, a gm-C integrator) and more with further poles; a swapped one
    leads by +180° or +90°. The band between, −135° to +45°, is the correct side's, with margin."""
    import numpy as np

    magnitude = abs(gain)
    if not (math.isfinite(magnitude) and magnitude > 1):  # an op-amp's open loop amplifies, by 1e3 and more
        raise ConfigError(f"the part's open-loop gain at {freq_hz:g} Hz is {magnitude:.3g} V/V, not above 1: its "
                          "output does not follow inp − inn; check the subcircuit's pins (order: inp inn out, then "
                          "the supplies)")
    phase = math.degrees(float(np.angle(gain)))
    if not -135.0 <= phase <= 45.0:
        raise ConfigError(f"the part's output moves against inp − inn at {freq_hz:g} Hz (phase {phase:.0f}°): inp and "
                          "inn are swapped in its subcircuit or its pin order; a negative-feedback loop built with "
                          "it would be a positive-feedback one")


def _opamp_ac(model: OpAmpModel, run: RunResult, bench: Testbench, result: Characterization) -> None:
    freq = _open_loop(run, bench, result)
    result.analytic.update(dc_gain_v_per_v=model.gain, dc_gain_db=20 * math.log10(model.gain),
                           gbw_hz=None if model.gbw_hz is None else model.unity_gain_hz(),
                           phase_margin_deg=None if model.gbw_hz is None else model.phase_margin_deg(1.0),
                           f_3db_hz=_magnitude_corner_hz(model, model.gain / math.sqrt(2)))
    result.curves["bode"]["analytic"] = model.open_loop_gain(freq)


def _bode_markers(gbw_hz: float | None, pm_deg: float | None) -> list[tuple[str, float, float | None]]:
    """(kind, frequency in Hz, phase margin in °) for the Bode plot."""
    return [] if gbw_hz is None else [("gbw", gbw_hz, pm_deg)]


def _noise(run: RunResult, bench: Testbench, result: Characterization, quote_hz: float, *, analytic_in: float | None,
           analytic_out: float | None) -> None:
    noise = run.analysis("noise")
    p = bench.probes
    freq, out_density, in_density = noise.axis, noise[p["output_density"]], noise[p["input_density"]]
    result.measured.update(
        noise_output_v_per_rthz_at_1khz=at_frequency(freq, out_density, quote_hz, log_values=True),
        noise_input_v_per_rthz_at_1khz=at_frequency(freq, in_density, quote_hz, log_values=True))
    result.analytic.update(noise_output_v_per_rthz_at_1khz=analytic_out, noise_input_v_per_rthz_at_1khz=analytic_in)
    result.curves["noise"] = {"freq_hz": freq, "output": out_density, "input": in_density,
                              "analytic_input": analytic_in, "quote_hz": quote_hz}


def _follower_offset(run: RunResult, bench: Testbench, dc_gain: float) -> tuple[float, float]:
    """(input offset in V, input bias current in A) of the follower at ``.op``, with ``dc_gain`` (V/V)
    the op-amp's A0."""
    op = run.analysis("op")
    v_out = float(op[bench.probes["out"]][0])
    # a follower settles at v_out = A0/(1 + A0)·(V_cm + V_os): the measured A0 divides that loop out
    # (the macromodel's output is A0 times its differential input, referred to ground)
    offset = v_out * (1.0 + 1.0 / dc_gain) - bench.levels["v_cm"]
    # the input source delivers the bias current; ngspice counts a source's current into its + node
    return offset, -float(op[bench.probes["source_current"]][0])


def _opamp_offset(model: OpAmpModel, run: RunResult, bench: Testbench, result: Characterization) -> None:
    offset, bias = _follower_offset(run, bench, result.measured.get("dc_gain_v_per_v") or model.gain)
    result.measured.update(input_offset_v=offset, input_bias_a=bias)
    result.analytic.update(input_offset_v=model.offset_v, input_bias_a=model.bias_a)


def _opamp_slew(model: OpAmpModel, run: RunResult, bench: Testbench, result: Characterization) -> None:
    from ..circuits.testbench import SLEW_MIN_LINEAR_RANGES

    tran = run.analysis("tran")
    v_out = tran[bench.probes["out"]]
    step = bench.levels["step_v"]
    rate = slew_rate_v_per_s(tran.axis, v_out, step)
    result.analytic["slew_rate_v_per_s"] = model.slew_v_per_s
    linear_v = model.slew_linear_range_v
    if step < SLEW_MIN_LINEAR_RANGES * linear_v:
        # the rails cut the step short of saturating the input stage: its slope is small-signal settling
        result.measured["slew_rate_v_per_s"] = None
        slope = f", {rate:.3g} V/s" if rate is not None else ""
        result.notes.append(
            f"Slew rate not measured: the rails allow a step of {step:g} V, {step / linear_v:.3g} linear ranges "
            f"SR/(2π·GBW) = {linear_v:.3g} V, where a slew needs {SLEW_MIN_LINEAR_RANGES:g}. The input stage stays "
            f"linear over the whole swing, so this slew limit never acts (the step's 20–80 % slope{slope} is the "
            "loop's small-signal settling).")
        return
    result.measured["slew_rate_v_per_s"] = rate


def characterize_integrator(block: RCLowPass, benches: Mapping[str, Testbench],
                            bench_runner: BenchRunner) -> Characterization:
    """The RC integrator's transfer (DC gain, −3 dB and unity-gain frequencies) and, with its leak
    resistor, the noise that resistor puts on the weight node."""
    from ..blocks.opamp import BOLTZMANN_J_PER_K, NGSPICE_DEFAULT_TEMP_K
    from ..circuits.testbench import NOISE_QUOTE_HZ, integrator_corner_hz

    title = "RC weight integrator" + ("" if block.leak else " (no leak)")
    result = Characterization("integrator", title, {**asdict(block), "r_ohm": block.r_ohm})
    _record(result, benches)
    corner = integrator_corner_hz(block)
    _integrator_ac(block, corner, bench_runner.run(benches["ac"]), benches["ac"], result)
    if "noise" in benches:
        resistor_v = math.sqrt(4 * BOLTZMANN_J_PER_K * NGSPICE_DEFAULT_TEMP_K * block.r_ohm)
        _noise(bench_runner.run(benches["noise"]), benches["noise"], result, NOISE_QUOTE_HZ,
               analytic_in=resistor_v / abs(block.gamma),
               analytic_out=resistor_v / abs(1 + 1j * NOISE_QUOTE_HZ / corner))
    return result


def _integrator_ac(block: RCLowPass, corner_hz: float, run: RunResult, bench: Testbench,
                   result: Characterization) -> None:
    import numpy as np

    ac = run.analysis("ac")
    freq, response = ac.axis, ac[bench.probes["out"]] / ac[bench.probes["inp"]]
    magnitude = np.abs(response)
    gain = abs(block.gamma)
    unity = falling_crossing_hz(freq, magnitude, 1.0)
    if block.leak:
        f_3db = falling_crossing_hz(freq, magnitude, magnitude[0] / math.sqrt(2))
        result.measured.update(dc_gain_v_per_v=float(response[0].real), dc_gain_db=20 * math.log10(magnitude[0]),
                               f_3db_hz=f_3db, gbw_hz=unity)
        result.analytic.update(dc_gain_v_per_v=block.gamma, dc_gain_db=20 * math.log10(gain), f_3db_hz=corner_hz,
                               gbw_hz=corner_hz * math.sqrt(gain**2 - 1) if gain > 1 else None)
        markers = [(kind, f, None) for kind, f in (("f3db", f_3db), ("unity", unity)) if f is not None]
        analytic = block.gamma / (1 + 1j * freq / corner_hz)
    else:
        result.measured["gbw_hz"], result.analytic["gbw_hz"] = unity, gain * corner_hz
        markers = [("unity", unity, None)] if unity is not None else []
        analytic = block.gamma / (1j * freq / corner_hz)
    result.curves["bode"] = {"freq_hz": freq, "response": response, "analytic": analytic, "markers": markers}


def characterize_comparator(block: ComparatorBlock, benches: Mapping[str, Testbench],
                            bench_runner: BenchRunner) -> Characterization:
    """The comparator's DC transfer against its twin, its small-signal gain at 0 V and its swing."""
    import numpy as np

    result = Characterization("comparator", f"{block.spec.name} comparator",
                              {**asdict(block.spec), "span_v": block.span_v})
    _record(result, benches)
    dc = bench_runner.run(benches["dc"]).analysis("dc")
    ac = bench_runner.run(benches["ac"]).analysis("ac")
    v_in, v_out = dc[benches["dc"].probes["inp"]], dc[benches["dc"].probes["out"]]
    twin_out, twin_slope = _activation_twin(block.spec, v_in)
    gain = float(np.real(ac[benches["ac"].probes["out"]][0] / ac[benches["ac"].probes["inp"]][0]))
    result.measured.update(dc_gain_v_per_v=gain, dc_gain_db=_db(gain), output_low_v=float(v_out.min()),
                           output_high_v=float(v_out.max()),
                           transfer_max_deviation_v=float(np.max(np.abs(v_out - twin_out))))
    result.analytic.update(dc_gain_v_per_v=twin_slope, dc_gain_db=_db(twin_slope), output_low_v=float(twin_out.min()),
                           output_high_v=float(twin_out.max()), transfer_max_deviation_v=0.0)
    result.curves["transfer"] = {"v_in": v_in, "v_out": v_out, "twin": twin_out, "gain": gain}
    return result


def _db(gain: float) -> float | None:
    return 20 * math.log10(abs(gain)) if gain != 0 else None


def _activation_twin(spec: Any, v_in: np.ndarray) -> tuple[np.ndarray, float]:
    """The PyTorch twin's σ over ``v_in`` (V) and its slope σ'(0) (V/V), in float64."""
    import numpy as np
    import torch

    from ..reference.activations import sigma, sigma_slope

    z = torch.as_tensor(np.asarray(v_in, dtype=np.float64))
    slope = sigma_slope(spec, torch.zeros(1, dtype=torch.float64))
    return sigma(spec, z).numpy(), float(slope[0])



# ----------------------------------------------------------------------------------------- user op-amp
def characterize_user_opamp(part: UserOpAmp, benches: Mapping[str, Testbench],
                            bench_runner: BenchRunner) -> Characterization:
    """A user subcircuit measured as the macromodels are (``benches`` from
    :func:`~analogopt.circuits.testbench.user_opamp_testbenches`), with nothing to compare against: every
    analytic value is None and the report says :data:`NO_ANALYTIC_MODEL`. The slew bench is built here,
    timed by the unity-gain frequency just measured."""
    import numpy as np

    from ..circuits.testbench import NOISE_QUOTE_HZ, user_opamp_slew_bench

    result = Characterization("opamp", f"user op-amp {part.name}", part.record(), analytic_note=NO_ANALYTIC_MODEL)
    _record(result, benches)
    _open_loop(bench_runner.run(benches["ac"]), benches["ac"], result, user_part=True)
    _noise(bench_runner.run(benches["noise"]), benches["noise"], result, NOISE_QUOTE_HZ, analytic_in=None,
           analytic_out=None)
    if not np.any(result.curves["noise"]["output"] > 0):
        result.notes.append(f"The part is noiseless: .noise finds no noisy element in {part.name} (output density "
                            "0 V/√Hz at every frequency).")
    offset, bias = _follower_offset(bench_runner.run(benches["offset"]), benches["offset"],
                                    result.measured["dc_gain_v_per_v"])
    result.measured.update(input_offset_v=offset, input_bias_a=bias)
    unity = result.measured.get("gbw_hz")
    if unity is None:
        result.notes.append("Slew rate not measured: the open-loop gain does not cross 1 in the sweep, so the "
                            "step response has no time scale to run on.")
    else:
        slew = user_opamp_slew_bench(part, unity)
        _record(result, {"slew": slew})
        tran = bench_runner.run(slew).analysis("tran")
        rate = slew_rate_v_per_s(tran.axis, tran[slew.probes["out"]], slew.levels["step_v"])
        result.measured["slew_rate_v_per_s"] = rate
        if rate is None:
            result.notes.append(f"Slew rate not measured: the follower's output did not pass 80 % of the "
                                f"{slew.levels['step_v']:g} V step within the bench's window.")
    return result


# ----------------------------------------------------------------------------------------- OTA
def ota_headroom(model: OTAModel, v_out: Any, pushing_up: Any) -> Any:
    """The factor (0…1) by which the OTA model's output current fades near its swing limits at output
    voltage ``v_out`` (V): ``1 − exp(−max(v_high − v_out, 0)/knee_v)`` pushing up, the same toward
    ``v_low`` pushing down (the B-source of :meth:`OTAModel.lines`)."""
    import numpy as np

    up = 1.0 - np.exp(-np.maximum(model.v_high - v_out, 0.0) / model.knee_v)
    down = 1.0 - np.exp(-np.maximum(v_out - model.v_low, 0.0) / model.knee_v)
    return np.where(pushing_up, up, down)


def ota_output_current_a(model: OTAModel, v_d: Any, v_out: Any, ref_v: float) -> Any:
    """The OTA model's DC output current (A) into its output node at differential input ``v_d`` (V, before
    the offset is added) and output voltage ``v_out`` (V), with r_out returned to ``ref_v`` (V): its
    B-source at DC (the pole stage has unity DC gain) less r_out's current. The twin of the swing bench."""
    v = v_d + model.offset_v
    return model.gm_s * v * ota_headroom(model, v_out, v > 0) - (v_out - ref_v) / model.r_out_ohm


def _bisect(f: Callable[[float], float], a: float, b: float) -> float:
    """The root of ``f`` between ``a`` and ``b`` (opposite signs), to the last bit."""
    positive_at_a = f(a) > 0
    for _ in range(200):
        mid = 0.5 * (a + b)
        if mid in (a, b):
            break
        if (f(mid) > 0) == positive_at_a:
            a = mid
        else:
            b = mid
    return 0.5 * (a + b)


def _level_crossing(x: np.ndarray, y: np.ndarray, level: float) -> float | None:
    """The first ``x`` (linearly interpolated) at which ``y`` passes ``level`` from the side it starts
    on; None if it never does."""
    import numpy as np

    side = np.sign(y - level)
    changed = np.nonzero(side != side[0])[0]
    if side[0] == 0 or changed.size == 0:
        return float(x[0]) if side[0] == 0 else None
    i = int(changed[0])
    return float(x[i - 1] + (level - y[i - 1]) * (x[i] - x[i - 1]) / (y[i] - y[i - 1]))


def _two_pole_points(a0: float, p1_hz: float, p2_hz: float | None) -> tuple[float, float | None, float | None]:
    """(−3 dB frequency, unity-gain frequency, phase margin) of ``a0/((1 + jf/p1)(1 + jf/p2))`` (Hz, Hz,
    °); without ``p2`` only the −3 dB point."""
    if p2_hz is None:
        return p1_hz, None, None
    f_3db = two_pole_level_hz(a0, p1_hz, p2_hz, a0 / math.sqrt(2))
    if a0 <= 1:
        return f_3db, None, None
    unity = two_pole_level_hz(a0, p1_hz, p2_hz, 1.0)
    return f_3db, unity, 180.0 - math.degrees(math.atan(unity / p1_hz) + math.atan(unity / p2_hz))


def ota_analytic(block: OTABlock) -> dict[str, float | None]:
    """The OTA's datasheet as its parameters predict it at the benches' bias (output at the reference
    ``(v_low + v_high)/2``, where the headroom factor ``h`` is 1 − exp(−(v_high − v_low)/(2·knee_v))):
    gm·h, bw_hz, gm·r_out·h, r_out, offset_v, and the swing points solved from
    :func:`ota_output_current_a`."""
    from ..circuits.testbench import ota_output_pole_hz, ota_reference_v, ota_swing_input_v

    model = block.model
    ref = ota_reference_v(model)
    h = float(ota_headroom(model, ref, True))
    gm = model.gm_s * h
    a0 = gm * model.r_out_ohm
    # the unloaded voltage gain has only the bandwidth pole; a load capacitor adds r_out·C_L's
    output_pole = ota_output_pole_hz(model, block.c_load_f)
    poles = (model.bw_hz, None) if output_pole is None else (min(model.bw_hz, output_pole), max(model.bw_hz, output_pole))
    f_3db, unity, pm = _two_pole_points(a0, *poles)
    values: dict[str, float | None] = {
        "transconductance_s": gm, "transconductance_f_3db_hz": model.bw_hz, "dc_transconductance_s": gm,
        "dc_gain_v_per_v": a0, "dc_gain_db": 20 * math.log10(a0), "f_3db_hz": f_3db, "gbw_hz": unity,
        "phase_margin_deg": pm, "output_resistance_ohm": model.r_out_ohm, "input_offset_v": model.offset_v}
    v_in = ota_swing_input_v(model)
    margin = 10 * model.knee_v
    for side, sign, edge in (("high", 1.0, model.v_high + margin), ("low", -1.0, model.v_low - margin)):
        def current(v: float, sign: float = sign) -> float:
            return float(ota_output_current_a(model, sign * v_in, v, ref))

        zero = _bisect(current, ref, edge)
        mid = current(ref)
        fade = _bisect(lambda v: current(v) - (1 - math.exp(-1)) * mid, ref, zero)
        values[f"output_{side}_v"], values[f"knee_{side}_v"] = zero, abs(zero - fade)
    return values


def characterize_ota(block: OTABlock, benches: Mapping[str, Testbench], bench_runner: BenchRunner) -> Characterization:
    """Every OTA measurement (``benches`` from :func:`~analogopt.circuits.testbench.ota_testbenches`): gm and
    its pole into a short, the open-circuit voltage gain, r_out, the DC transfer's null (offset) and slope,
    and the swing limits with their knees."""
    from ..circuits.testbench import ota_reference_v

    model = block.model
    parameters = {**asdict(model), "c_load_f": block.c_load_f, "ref_v": ota_reference_v(model), "dc_gain": model.dc_gain}
    result = Characterization("ota", "OTA" + (f" into C_L = {block.c_load_f:g} F" if block.c_load_f else ""), parameters)
    _record(result, benches)
    analytic = ota_analytic(block)
    result.analytic.update(analytic)
    _ota_gm(model, bench_runner.run(benches["gm"]), benches["gm"], result)
    _ota_gain(block, bench_runner.run(benches["gain"]), benches["gain"], result)
    rout = bench_runner.run(benches["rout"]).analysis("ac")
    result.measured["output_resistance_ohm"] = -1.0 / float(rout[benches["rout"].probes["out_current"]][0].real)
    _ota_transfer(model, bench_runner.run(benches["transfer"]), benches["transfer"], result)
    _ota_swing(model, bench_runner.run(benches["swing"]), benches["swing"], result)
    return result


def _ota_gm(model: OTAModel, run: RunResult, bench: Testbench, result: Characterization) -> None:
    import numpy as np

    ac = run.analysis("ac")
    p = bench.probes
    freq, y = ac.axis, ac[p["out_current"]] / (ac[p["inp"]] - ac[p["inn"]])
    magnitude = np.abs(y)
    pole = falling_crossing_hz(freq, magnitude, magnitude[0] / math.sqrt(2))
    result.measured.update(transconductance_s=float(magnitude[0]), transconductance_f_3db_hz=pole)
    analytic = result.analytic["transconductance_s"] / (1 + 1j * freq / model.bw_hz)
    result.curves["gm"] = {"freq_hz": freq, "response": y, "analytic": analytic, "pole_hz": pole}


def _ota_gain(block: OTABlock, run: RunResult, bench: Testbench, result: Characterization) -> None:
    import numpy as np

    from ..circuits.testbench import ota_output_pole_hz

    ac = run.analysis("ac")
    p = bench.probes
    freq, gain = ac.axis, ac[p["out"]] / (ac[p["inp"]] - ac[p["inn"]])
    magnitude = np.abs(gain)
    a0 = float(magnitude[0])
    f_3db = falling_crossing_hz(freq, magnitude, a0 / math.sqrt(2))
    # unloaded, |A| = 1 lies near gm·r_out·bw_hz, a frequency no output without capacitance reaches
    unity = falling_crossing_hz(freq, magnitude, 1.0) if block.c_load_f > 0 else None
    pm = None if unity is None else 180.0 + at_frequency(freq, phase_deg(gain), unity)
    result.measured.update(dc_gain_v_per_v=a0, dc_gain_db=20 * math.log10(a0), f_3db_hz=f_3db, gbw_hz=unity,
                           phase_margin_deg=pm)
    output_pole = ota_output_pole_hz(block.model, block.c_load_f)
    analytic = result.analytic["dc_gain_v_per_v"] / (1 + 1j * freq / block.model.bw_hz)
    if output_pole is not None:
        analytic = analytic / (1 + 1j * freq / output_pole)
    markers = [("f3db", f_3db, None)] if f_3db is not None else []
    markers += [("gbw", unity, pm)] if unity is not None else []
    result.curves["bode"] = {"freq_hz": freq, "response": gain, "analytic": analytic, "markers": markers,
                             "c_load_f": block.c_load_f}


def _ota_transfer(model: OTAModel, run: RunResult, bench: Testbench, result: Characterization) -> None:
    import numpy as np

    dc = run.analysis("dc")
    v_d, current = dc.axis, dc[bench.probes["out_current"]]
    null = _level_crossing(v_d, current, 0.0)
    slope = None
    if null is not None:
        i = int(np.searchsorted(v_d, null))
        i = min(max(i, 1), v_d.size - 1)
        slope = float((current[i] - current[i - 1]) / (v_d[i] - v_d[i - 1]))
    result.measured.update(input_offset_v=None if null is None else -null, dc_transconductance_s=slope)
    twin = ota_output_current_a(model, v_d, bench.levels["ref_v"], bench.levels["ref_v"])
    result.curves["transfer"] = {"v_d": v_d, "current": current, "twin": twin, "null_v": null, "slope_s": slope}


def _ota_swing(model: OTAModel, run: RunResult, bench: Testbench, result: Characterization) -> None:
    import numpy as np

    dc = run.analysis("dc")
    v_out = dc.axis
    ref, v_in = bench.levels["ref_v"], bench.levels["input_v"]
    curves = {"v_out": v_out, "ref_v": ref, "input_v": v_in, "v_low": model.v_low, "v_high": model.v_high,
              "knee_v": model.knee_v}
    for side, probe, sign in (("high", "current_up", 1.0), ("low", "current_down", -1.0)):
        current = dc[bench.probes[probe]]
        # walk from mid-swing toward the limit this input pushes to
        toward = v_out >= ref if sign > 0 else v_out <= ref
        x, y = v_out[toward], current[toward]
        if sign < 0:
            x, y = x[::-1], y[::-1]
        mid = float(np.interp(ref, v_out, current))
        zero = _level_crossing(x, y, 0.0)
        fade = _level_crossing(x, y, (1 - math.exp(-1)) * mid)
        result.measured[f"output_{side}_v"] = zero
        result.measured[f"knee_{side}_v"] = None if zero is None or fade is None else abs(zero - fade)
        curves[f"current_{side}"] = current
        curves[f"twin_{side}"] = ota_output_current_a(model, sign * v_in, v_out, ref)
    result.curves["swing"] = curves


__all__ = [
    "BenchRunner", "Characterization", "ComparatorBlock", "NO_ANALYTIC_MODEL", "OTABlock", "OTA_QUANTITIES",
    "QUANTITIES", "QUANTITIES_BY_BLOCK", "Quantity", "at_frequency", "characterize_comparator",
    "characterize_integrator", "characterize_opamp", "characterize_ota", "characterize_user_opamp",
    "falling_crossing_hz", "ota_analytic", "ota_headroom", "ota_output_current_a", "phase_deg",
    "rising_crossing_s", "slew_rate_v_per_s",
]
