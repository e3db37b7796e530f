"""``analogopt characterize BLOCK --out DIR``: a datasheet page for one analog block, measured in ngspice.

Blocks: ``opamp`` (the macromodels of :mod:`analogopt.blocks.opamp`), ``integrator`` (the RC weight
integrator :class:`~analogopt.blocks.integrator.RCLowPass`) and ``comparator`` (an activation of
:mod:`analogopt.blocks.activation`). The testbenches come from :mod:`analogopt.circuits.testbench`; this
module runs them, measures, and writes ``characterization.json``, ``report.md``, the PNGs, the decks
(``netlist_<analysis>.cir``) and ngspice's files (``spice/<analysis>/``). Every measured number sits
beside the value the block's own parameters predict, with their relative difference; a quantity that
does not apply to the block is ``null`` in the JSON and "n/a" in the report.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping

from ..errors import ConfigError

if TYPE_CHECKING:  # numpy and the blocks are imported where used: building the CLI parser stays light
    import numpy as np
    from matplotlib.figure import Figure

    from ..blocks.integrator import RCLowPass
    from ..blocks.opamp import OpAmpModel
    from ..circuits.testbench import Testbench
    from ..progress import Progress
    from ..results import RunDirectory
    from ..spice.runner import Runner, RunResult

#: Blocks the command knows, in ``--help`` order.
BLOCKS: tuple[str, ...] = ("opamp", "integrator", "comparator")

#: Whole-run limit (s) when ``--timeout`` is not given: the benches take well under a second each.
DEFAULT_TIMEOUT_S = 120.0

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


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "characterize",
        help="a datasheet page for one block: Bode plot, DC gain, GBW, phase margin, noise, offset, slew",
        description="Measure one analog block in ngspice against the values its parameters predict: AC gain and "
        "phase, DC gain, gain-bandwidth, phase margin (β = 1), noise densities (.noise), input offset and bias, "
        "slew rate; the comparator's DC transfer, small-signal gain and swing. Writes characterization.json, "
        "report.md, bode.png (transfer.png for the comparator), noise.png, netlist_<analysis>.cir and "
        "spice/<analysis>/ into --out.",
    )
    p.add_argument("block", choices=BLOCKS, metavar="BLOCK", help=f"the block: {', '.join(BLOCKS)}")
    p.add_argument("--out", required=True, help="result directory (created; must be empty unless --force)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a block parameter, e.g. --set kind=single_pole --set gbw_hz=1meg (repeatable); opamp: the "
                        "keys of the scenario [opamp] table (kind, gain, gbw_hz, second_pole_hz, v_low, v_high, "
                        "offset_v, bias_a, slew_v_per_s, r_out_ohm, noise_v_per_rthz, noise_tran_step_s); integrator: tau_s, gamma, "
                        "leak, c_farad; comparator: name, gain, slope, span_v")
    p.add_argument("--force", action="store_true",
                   help="replace an existing result directory that analogopt wrote (never any other directory)")
    p.add_argument("--timeout", type=float, default=None, metavar="S",
                   help=f"wall-time limit of the whole characterization (s), default {DEFAULT_TIMEOUT_S:g}")
    p.add_argument("--quiet", action="store_true", help="no progress display or summary line")
    p.set_defaults(func=_cmd_characterize)


# ----------------------------------------------------------------------------------------- parameters
def parse_settings(items: list[str]) -> dict[str, Any]:
    """``--set KEY=VALUE`` items as a table; each value read as one TOML value (``1e5``, ``true``), else
    kept as text for the strict reader (``"1meg"``, ``"single_pole"``). A key given twice is an error."""
    from ..scenarios import parse_value

    settings: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. --set gain=1e5")
        if key in settings:
            raise ConfigError(f"--set {key}: given twice")
        settings[key] = parse_value(raw.strip())
    return settings


def opamp_block(settings: Mapping[str, Any]) -> OpAmpModel:
    """An :class:`~analogopt.blocks.opamp.OpAmpModel` from the settings (the scenario reader's rules)."""
    from ..blocks.opamp import opamp_from_config

    return opamp_from_config(dict(settings), "opamp")


def integrator_block(settings: Mapping[str, Any]) -> RCLowPass:
    """An :class:`~analogopt.blocks.integrator.RCLowPass`: ``tau_s`` (s, default 1 ms), ``gamma``
    (V/V, default 1), ``leak`` (default true), ``c_farad`` (F, default 1 nF)."""
    from ..blocks.integrator import RCLowPass
    from ..values import Table

    table = Table(dict(settings), "integrator").reject_unknown({"tau_s", "gamma", "leak", "c_farad"})
    gamma = table.number("gamma", 1.0, unit="V/V")
    if gamma == 0:
        raise table.error("gamma", "must be non-zero, got 0")
    try:
        return RCLowPass(tau_s=table.number("tau_s", 1e-3, unit="s", positive=True), gamma=gamma,
                         leak=table.boolean("leak", True), c_farad=table.number("c_farad", 1e-9, unit="F", positive=True))
    except ConfigError as exc:
        raise ConfigError(f"integrator: {exc}") from None


@dataclass(frozen=True)
class ComparatorBlock:
    """An activation as its comparator circuit builds it, and the ``±span_v`` (V) its transfer is swept over."""

    spec: Any  # analogopt.problems.ActivationSpec
    span_v: float


def comparator_block(settings: Mapping[str, Any]) -> ComparatorBlock:
    """``name`` (an activation, default ``sign``), ``gain`` (V/V, default 50), ``slope`` (leaky_relu's,
    default 0.01), ``span_v`` (V, default 3)."""
    from ..problems import ACTIVATIONS, ActivationSpec
    from ..values import Table

    table = Table(dict(settings), "comparator").reject_unknown({"name", "gain", "slope", "span_v"})
    spec = ActivationSpec(table.choice("name", "sign", ACTIVATIONS, what="activation"),
                          gain=table.number("gain", 50.0, unit="V/V", positive=True),
                          slope=table.number("slope", 0.01, low=0, below=1))
    return ComparatorBlock(spec, table.number("span_v", 3.0, unit="V", positive=True))


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

    def as_json(self) -> dict[str, Any]:
        return {"label": self.label, "unit": self.unit, "measured": _or_none(self.measured),
                "analytic": _or_none(self.analytic), "relative_difference": self.relative_difference}


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

    def quantities(self) -> list[Quantity]:
        labels = _BLOCK_LABELS.get(self.block, {})
        return [Quantity(key, labels.get(key, label), unit, self.measured.get(key), self.analytic.get(key))
                for key, label, unit in QUANTITIES]


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
    p1, ratio = model.dominant_pole_hz, (model.gain / level) ** 2
    if model.second_pole_hz is None:
        return p1 * math.sqrt(ratio - 1.0)
    p2 = model.second_pole_hz
    a, b, c = 1.0 / (p1 * p2) ** 2, 1.0 / p1**2 + 1.0 / p2**2, 1.0 - ratio
    return math.sqrt((-b + math.sqrt(b * b - 4 * a * c)) / (2 * a))


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


def characterize_opamp(model: OpAmpModel, benches: Mapping[str, Testbench],
                       bench_runner: BenchRunner) -> Characterization:
    """Every op-amp measurement (``benches`` from :func:`~analogopt.circuits.testbench.opamp_testbenches`):
    open-loop AC, noise, offset and bias, and slew where a limit is set."""
    from ..circuits.testbench import NOISE_QUOTE_HZ

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


def _opamp_ac(model: OpAmpModel, run: RunResult, bench: Testbench, result: Characterization) -> None:
    import numpy as np

    ac = run.analysis("ac")
    p = bench.probes
    freq, gain = ac.axis, ac[p["out"]] / (ac[p["inp"]] - ac[p["inn"]])
    magnitude, phase = np.abs(gain), phase_deg(gain)
    dc_gain = float(magnitude[0])
    gbw = falling_crossing_hz(freq, magnitude, 1.0)
    pm = None if gbw is None else 180.0 + at_frequency(freq, phase, gbw)
    m, a = result.measured, result.analytic
    m.update(dc_gain_v_per_v=dc_gain, dc_gain_db=20 * math.log10(dc_gain), gbw_hz=gbw, phase_margin_deg=pm,
             f_3db_hz=falling_crossing_hz(freq, magnitude, dc_gain / math.sqrt(2)))
    a.update(dc_gain_v_per_v=model.gain, dc_gain_db=20 * math.log10(model.gain),
             gbw_hz=None if model.gbw_hz is None else model.unity_gain_hz(),
             phase_margin_deg=None if model.gbw_hz is None else model.phase_margin_deg(1.0),
             f_3db_hz=_magnitude_corner_hz(model, model.gain / math.sqrt(2)))
    result.curves["bode"] = {"freq_hz": freq, "response": gain, "analytic": model.open_loop_gain(freq),
                             "markers": _bode_markers(gbw, pm)}


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


def _opamp_offset(model: OpAmpModel, run: RunResult, bench: Testbench, result: Characterization) -> None:
    op = run.analysis("op")
    v_out = float(op[bench.probes["out"]][0])
    # a follower settles at v_out = A0/(1 + A0)·(V_cm + V_os): the measured A0 divides that loop out
    # (the macromodel's output is A0 times its differential input, referred to ground)
    dc_gain = result.measured.get("dc_gain_v_per_v") or model.gain
    offset = v_out * (1.0 + 1.0 / dc_gain) - bench.levels["v_cm"]
    # the input source delivers the bias current; ngspice counts a source's current into its + node
    bias = -float(op[bench.probes["source_current"]][0])
    result.measured.update(input_offset_v=offset, input_bias_a=bias)
    result.analytic.update(input_offset_v=model.offset_v, input_bias_a=model.bias_a)


def _opamp_slew(model: OpAmpModel, run: RunResult, bench: Testbench, result: Characterization) -> None:
    tran = run.analysis("tran")
    v_out = tran[bench.probes["out"]]
    result.measured["slew_rate_v_per_s"] = slew_rate_v_per_s(tran.axis, v_out, bench.levels["step_v"])
    result.analytic["slew_rate_v_per_s"] = model.slew_v_per_s


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


def block_testbenches(name: str, block: Any) -> dict[str, Testbench]:
    """The testbenches of block ``name`` (a key of :data:`BLOCKS`), every deck formatted once so that a
    bad netlist fails before any file is written."""
    from ..circuits import testbench

    benches = {"opamp": lambda: testbench.opamp_testbenches(block),
               "integrator": lambda: testbench.integrator_testbenches(block),
               "comparator": lambda: testbench.comparator_testbenches(block.spec, block.span_v)}[name]()
    for bench in benches.values():
        bench.deck.format()
    return benches


#: block name → (parameters from --set, measurements)
_BLOCK_FUNCTIONS: dict[str, tuple[Callable, Callable]] = {
    "opamp": (opamp_block, characterize_opamp),
    "integrator": (integrator_block, characterize_integrator),
    "comparator": (comparator_block, characterize_comparator),
}


# ----------------------------------------------------------------------------------------- figures
def _display(value: float, unit: str) -> str:
    """``value`` with an SI prefix, rounded to 4 digits first so that 999999.99 Hz reads 1 MHz."""
    from ..units import quantity

    return quantity(float(f"{value:.4g}"), unit)


def _format_hz(value: float) -> str:
    return _display(value, "Hz")


def bode_figure(curve: Mapping[str, Any], title: str) -> Figure:
    """Gain (dB) and phase (°) against frequency (Hz, log axis): ngspice solid, analytic dashed, with
    markers at the unity-gain (GBW) frequency and the phase-margin point, or at the −3 dB corner."""
    import matplotlib
    import numpy as np

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    freq, response, analytic = curve["freq_hz"], curve["response"], curve["analytic"]
    fig, (ax_gain, ax_phase) = plt.subplots(2, 1, figsize=(7, 6), sharex=True)
    ax_gain.semilogx(freq, 20 * np.log10(np.abs(response)), lw=2, label="ngspice")
    ax_gain.semilogx(freq, 20 * np.log10(np.abs(analytic)), "k--", lw=1, label="analytic")
    ax_phase.semilogx(freq, phase_deg(response), lw=2, label="ngspice")
    ax_phase.semilogx(freq, phase_deg(analytic), "k--", lw=1, label="analytic")
    for kind, f_mark, pm in curve["markers"]:
        _mark(ax_gain, ax_phase, kind, f_mark, pm, freq, response)
    ax_gain.set_ylabel("gain (dB)")
    ax_phase.set_ylabel("phase (°)")
    ax_phase.set_xlabel("frequency (Hz)")
    ax_gain.set_title(title, fontsize=10)
    for ax in (ax_gain, ax_phase):
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    return fig


def _mark(ax_gain, ax_phase, kind: str, f_mark: float, pm: float | None, freq, response) -> None:
    import numpy as np

    gain_db = 20 * math.log10(at_frequency(freq, np.abs(response), f_mark, log_values=True))
    phase = at_frequency(freq, phase_deg(response), f_mark)
    name = {"gbw": "GBW", "f3db": "−3 dB", "unity": "unity gain"}[kind]
    ax_gain.plot([f_mark], [gain_db], "o", color="C3", label=f"{name} {_format_hz(f_mark)}")
    ax_gain.axvline(f_mark, color="C3", lw=0.8, ls=":")
    ax_phase.axvline(f_mark, color="C3", lw=0.8, ls=":")
    if pm is not None:
        ax_phase.plot([f_mark], [phase], "s", color="C2", label=f"phase margin {pm:.1f}°")
        ax_phase.axhline(-180, color="0.5", lw=0.8)
        ax_phase.annotate("", xy=(f_mark, phase), xytext=(f_mark, -180),
                          arrowprops={"arrowstyle": "<->", "color": "C2"})


def noise_figure(curve: Mapping[str, Any], title: str) -> Figure:
    """Output and input-referred noise densities (V/√Hz) against frequency (Hz), log-log, with the
    analytic input density and the 1 kHz quote point."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    freq = curve["freq_hz"]
    ax.loglog(freq, curve["output"], lw=2, label="output (onoise_spectrum)")
    ax.loglog(freq, curve["input"], lw=2, ls="--", label="input-referred (inoise_spectrum)")
    if curve["analytic_input"] is not None:
        ax.axhline(curve["analytic_input"], color="k", lw=1, ls=":", label="analytic input-referred")
    quote = curve["quote_hz"]
    ax.plot([quote], [at_frequency(freq, curve["input"], quote, log_values=True)], "o", color="C3",
            label=f"quoted at {_format_hz(quote)}")
    ax.set_xlabel("frequency (Hz)")
    ax.set_ylabel("noise density (V/√Hz)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return fig


def transfer_figure(curve: Mapping[str, Any], title: str) -> Figure:
    """The comparator's DC transfer (V against V): ngspice, twin, and the small-signal slope at 0 V."""
    import matplotlib
    import numpy as np

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    v_in = curve["v_in"]
    ax.plot(v_in, curve["v_out"], lw=2, label="ngspice")
    ax.plot(v_in, curve["twin"], "k--", lw=1, label="twin (PyTorch)")
    low, high = float(np.min(curve["v_out"])), float(np.max(curve["v_out"]))
    tangent = np.clip(curve["gain"] * v_in + float(np.interp(0.0, v_in, curve["v_out"])), low, high)
    ax.plot(v_in, tangent, ":", color="C3", label=f"small-signal gain at 0 V: {curve['gain']:.4g} V/V")
    ax.axhline(low, color="0.6", lw=0.8)
    ax.axhline(high, color="0.6", lw=0.8, label=f"swing {low:.4g} V … {high:.4g} V")
    ax.set_xlabel("input (V)")
    ax.set_ylabel("output (V)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


# ----------------------------------------------------------------------------------------- files
def format_number(value: float | None) -> str:
    """A table cell: 6 significant digits, or ``n/a``."""
    return "n/a" if not _finite(value) else f"{value + 0.0:.6g}"  # + 0.0: no "-0"


def report_markdown(result: Characterization, figures: list[str]) -> str:
    """``report.md``: parameters, the datasheet table (quantity, measured, analytic, unit), the benches."""
    params = ", ".join(f"`{k}={v:g}`" if isinstance(v, float) else f"`{k}={v}`" for k, v in result.parameters.items())
    lines = [f"# Characterization: {result.title}", "", f"Parameters: {params}.", "",
             "Measured in ngspice; analytic values from the block's own parameters (n/a: does not apply, "
             "or the sweep shows no such point). Relative differences are in `characterization.json`.", "",
             "| quantity | measured | analytic | unit |", "|---|---|---|---|"]
    lines += [f"| {q.label} | {format_number(q.measured)} | {format_number(q.analytic)} | {q.unit} |"
              for q in result.quantities()]
    lines += ["", "## Testbenches", ""]
    lines += [f"- `netlist_{name}.cir` (ngspice files in `spice/{name}/`): {purpose}"
              for name, purpose in result.benches.items()]
    lines += ["", "## Figures", ""] + [f"![{name}]({name})" for name in figures] + [""]
    return "\n".join(lines)


def characterization_json(result: Characterization) -> dict[str, Any]:
    """``characterization.json``: every quantity at the top level under its key (unit in the name), each
    with label, unit, measured, analytic and relative difference (null: n/a), then block, parameters
    and benches."""
    data: dict[str, Any] = {q.key: q.as_json() for q in result.quantities()}
    data.update(block=result.block, title=result.title, parameters=result.parameters,
                testbenches={name: {"purpose": purpose, "netlist": f"netlist_{name}.cir", "spice_dir": f"spice/{name}"}
                             for name, purpose in result.benches.items()})
    return data


def write_results(result: Characterization, out: RunDirectory) -> list[str]:
    """The figures, ``report.md`` and ``characterization.json`` into ``out``; returns the figure names."""
    import numpy as np

    figures = []
    if "bode" in result.curves:
        out.save_figure("bode.png", bode_figure(result.curves["bode"], f"{result.title}: open-loop Bode plot"
                                                if result.block == "opamp" else f"{result.title}: transfer"))
        figures.append("bode.png")
    if "transfer" in result.curves:
        out.save_figure("transfer.png", transfer_figure(result.curves["transfer"], f"{result.title}: DC transfer"))
        figures.append("transfer.png")
    if "noise" in result.curves and np.any(result.curves["noise"]["output"] > 0):  # a noiseless block: no plot
        out.save_figure("noise.png", noise_figure(result.curves["noise"], f"{result.title}: noise densities"))
        figures.append("noise.png")
    out.write_json("characterization.json", characterization_json(result))
    out.write_text("report.md", report_markdown(result, figures))
    return figures


def summary_line(result: Characterization) -> str:
    """The command's one line: the headline numbers measured, each only where the block has an analytic
    value for it (a noiseless macromodel's femtovolts of resistor noise are no headline)."""
    gain = "gain at 0 V" if result.block == "comparator" else "DC gain"
    shown = {"dc_gain_db": lambda v: f"{gain} {round(v, 1) + 0.0:.1f} dB",
             "gbw_hz": lambda v: f"GBW {_display(v, 'Hz')}",
             "f_3db_hz": lambda v: f"−3 dB at {_display(v, 'Hz')}",
             "phase_margin_deg": lambda v: f"phase margin {v:.1f}°",
             "noise_input_v_per_rthz_at_1khz": lambda v: f"e_n {_display(v, 'V')}/√Hz at 1 kHz",
             "slew_rate_v_per_s": lambda v: f"slew {v:.3g} V/s",
             "transfer_max_deviation_v": lambda v: f"transfer within {_display(v, 'V')} of the twin"}
    parts = [fmt(result.measured[key]) for key, fmt in shown.items()
             if _finite(result.measured.get(key)) and result.analytic.get(key) is not None]
    return f"{result.title}: " + ", ".join(parts)


# ----------------------------------------------------------------------------------------- command
def _cmd_characterize(args: argparse.Namespace) -> int:
    from ..progress import Progress
    from ..results import RunDirectory, check_target
    from ..spice.runner import make_runner
    from .flags import positive_seconds

    timeout_s = positive_seconds(args.timeout, "--timeout") or DEFAULT_TIMEOUT_S
    check_target(args.out)  # a refused --out is reported before any parameter is read
    read, measure = _BLOCK_FUNCTIONS[args.block]
    block = read(parse_settings(args.set))
    benches = block_testbenches(args.block, block)  # parameters and decks judged before any file exists
    runner = make_runner("ngspice", timeout_s=timeout_s)
    progress = Progress(enabled=not args.quiet)
    with RunDirectory(args.out, force=args.force) as out:
        result = measure(block, benches, BenchRunner(runner, out, progress))
        write_results(result, out)
    progress.done()
    if not args.quiet:
        print(f"{summary_line(result)} — results in {args.out}")
    return 0


__all__ = ["register", "parse_settings", "block_testbenches", "characterize_opamp", "characterize_integrator", "characterize_comparator",
           "Characterization", "Quantity", "QUANTITIES"]
