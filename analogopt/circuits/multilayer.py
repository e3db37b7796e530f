"""Generator: an L-layer network that trains itself in ngspice (000 §4.4, Fig. 5; 001 §3; 004 §3).

Node voltages carry the network's values one to one (V = the number): ``w{l}_{i}_{j}`` and ``b{l}_{i}`` are
the weight capacitors of layer ``l`` (1-based), and for each forward/backward copy ``k``
``z{l}_{k}_{i}`` the pre-activation, ``h{l}_{k}_{i}`` the activation, ``d{l}_{k}_{i}`` the error ``δ`` and
``j{l}_{k}_{i}`` the signal a fixed feedback matrix delivers. Signal flow of copy ``k`` (sample ``x_k``)::

    z^l = W^l a^{l−1} + b^l            data conductances (a^0 = x fixed, batch) or multipliers
    a^l = σ_l(z^l)                     one small behavioral source per unit
    δ^L = (a^L − y) ⊙ σ_L'(z^L)        the difference vector through the output window (000 Eq. 16)
    δ^l = j^l ⊙ σ_l'(z^l)              j^l = W^{l+1}ᵀ δ^{l+1}   transpose: multipliers reading the same
                                                               weight nodes as the forward path (000 Eq. 17,
                                                               §6.5's weight generator): NF at u = β, BP
                                       j^l = B^{l+1}ᵀ δ^{l+1}   chain (FA/RBP): fixed conductances
                                       j^l = C^lᵀ δ^L           direct (DFA/SRBP/mDFA): fixed conductances
    C dW^l/dt = −(C/τ)·⟨δ^l a^{l−1}ᵀ⟩   the weight integrator (000 Eq. 10 as a pure integrator): a
                                       transconductance array from δ (x fixed) or multipliers

``⟨·⟩`` is the mean over the copies (``batch``: one copy per training sample) or the one copy (``online``:
the samples arrive one after another from an XSPICE ``filesource``, piecewise constant, each held for
``T = η·τ``). A PULSE source of period ``T`` puts ngspice's breakpoints on every sample boundary, so no
step straddles a change of input (a file source sets none); the source itself reads its file in order,
where a PWL of thousands of points is searched from its start at every evaluation.

A mono-net (mDFA) gets a non-negative clamp on every weight of layers ≥ 2. With ``sense`` every
integrator's input current flows through a 0 V source ``vs…`` that ngspice reports (``i(vs1_0_0)``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySpice.Spice.Netlist import Circuit

from ..blocks.activation import sigma_expr, slope_expr
from ..blocks.clamp import NonNegativeClamp
from ..blocks.multiplier import Multiplier
from ..blocks.vccs_array import format_vccs_entries
from ..problems import MultiLayerProblem
from ..spice.netlist import NetlistDeck, Transient, format_floats, format_value
from .base import AnalogCircuit

#: Simulator accuracy. On the iris batch circuit reltol 1e-4 / 3e-5 / 1e-5 put the weights 3.2 / 1.4 / 0.63 % of
#: their range from a run at 1e-7: a 2 % comparison needs 1e-5. Gear is kept where a mono-net's clamp
#: (100 S on 1 µF, 10 ns) makes the circuit stiff.
OPTIONS = {"reltol": 1e-5, "abstol": 1e-12, "vntol": 1e-7, "method": "gear"}
#: Without a clamp the batch circuit is not stiff: the trapezoidal rule's smaller error constant takes 132
#: steps where Gear takes 178, landing 0.31 % of a weight's range from the 1e-7 run where Gear lands 0.63 %.
#: An abstol of 1 nA (1e-6 of the integrators' 1 mA scale) stops the step control from chasing the
#: vanishing integrator currents near convergence: 98 steps, 0.47 % (1e-8 A: 82 steps, 0.79 %).
BATCH_TRAP_OPTIONS = {**OPTIONS, "method": "trap", "abstol": 1e-9}
#: Online, every presentation restarts ngspice's step after a breakpoint (~20–35 steps each on the digits
#: circuit); reltol 1e-4 takes 34 steps per presentation where 1e-5 takes 63.
ONLINE_OPTIONS = {**OPTIONS, "reltol": 1e-4}
#: Without a clamp the online circuit is not stiff: the trapezoidal rule at ngspice's default reltol 1e-3
#: takes 8 208 steps where Gear at 1e-4 takes 15 167 (digits 16-16-16-10, 400 presentations, the same test
#: accuracy). On iris online (2 400 presentations) reltol 1e-3 / 3e-4 / 1e-4 land 2.1 / 1.7 / 1.0 % of a
#: weight's range from the rule's continuous flow in about the same time (the breakpoints set the steps);
#: on digits they take 28 / 30 / 45 s. A mono-net's clamp (100 S on 1 µF, 10 ns) keeps Gear at 1e-4,
#: which does not ring on it.
ONLINE_TRAP_OPTIONS = {**ONLINE_OPTIONS, "method": "trap", "reltol": 3e-4}

#: Products summed by one behavioral source of a weight's integrator input (batch mode): a few terms
#: per source keep each one's derivative evaluation small without one element per product.
PRODUCTS_PER_SOURCE = 8
#: Weight capacitance at the ideal level (F); with τ = 1 ms the integrator's transconductance is 1 mS,
#: so its input currents sit far above ngspice's abstol.
IDEAL_C_FARAD = 1e-6
#: Columns (inputs and targets) per XSPICE file source: lines of 8 exact values stay short.
FILE_SOURCE_COLUMNS = 8
#: Input ramp at each sample boundary of the online mode, as a fraction of the sample time T.
RAMP_FRACTION = 1e-3


def weight_nodes(problem: MultiLayerProblem, layer: int) -> list[str]:
    """The weight nodes of ``layer`` (1-based), row by row, then its biases: one per integrator."""
    n_out, n_in = problem.sizes[layer], problem.sizes[layer - 1]
    return [f"w{layer}_{i}_{j}" for i in range(n_out) for j in range(n_in)] + [f"b{layer}_{i}" for i in range(n_out)]


def unit_nodes(kind: str, layer: int, copies: int, units: int) -> list[str]:
    """``kind`` nodes (z, h, d, j) of ``layer`` for every copy, copy-major: index ``k·units + i``."""
    return [f"{kind}{layer}_{k}_{i}" for k in range(copies) for i in range(units)]


@dataclass
class MultiLayerCircuit(AnalogCircuit):
    """The generated circuit with its node map: ``weights[l − 1]`` the integrator nodes of layer ``l``,
    ``z``/``h`` per layer (copy-major), ``inputs``/``targets`` the online source nodes (empty in batch),
    ``sense`` the integrator-current vectors (empty without sense), ``clamp`` the mono-net's clamp."""

    weights: tuple[tuple[str, ...], ...] = ()
    z: tuple[tuple[str, ...], ...] = ()
    h: tuple[tuple[str, ...], ...] = ()
    inputs: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()
    sense: tuple[tuple[str, ...], ...] = ()
    clamp: NonNegativeClamp | None = None


def _cell(name: str, node: str, expr: str) -> str:
    """A behavioral cell ``v(node) = expr``: a current source into a 1 Ω load. A voltage-type source would
    add a branch row with a zero diagonal, which forces KLU to pivot off its ordering (measured on the
    iris batch circuit: 1.7 s of factoring against 0.8 s this way)."""
    return f"B{name} 0 {node} i={expr}\nR{name} {node} 0 1"


def _window(spec, z: str, h: str) -> str:
    """σ'(z) as the cell computes it: from the activation's output where σ' is a function of σ (tanh,
    sigmoid: one product instead of another transcendental), else from z."""
    if spec.name == "tanh":
        return f"(1-v({h})*v({h}))"
    if spec.name == "sigmoid":
        return f"(v({h})*(1-v({h})))"
    return slope_expr(spec, f"v({z})")


def _offsets(problem: MultiLayerProblem, rng: np.random.Generator, count: int) -> np.ndarray | None:
    if problem.multiplier_offset_v == 0:
        return None
    return problem.multiplier_offset_v * rng.standard_normal(count)


def build_multilayer(problem: MultiLayerProblem, *, title: str = "multi-layer training circuit", points: int = 50,
                     sense: bool = False, clamp: NonNegativeClamp = NonNegativeClamp()) -> MultiLayerCircuit:
    """The circuit, a transient over the problem's analog duration, and its node map.

    ``points`` caps ngspice's step in batch mode at duration/points; online, the step is capped at a
    quarter of a sample time. ngspice chooses the steps below the cap.
    """
    sizes, L, K = problem.sizes, problem.layers, problem.copies
    batch = problem.mode == "batch"
    mult = Multiplier(problem.multiplier_range_v)
    rng = np.random.default_rng([int(problem.multiplier_seed), 0x6D756C74])
    hidden, output = problem.hidden, problem.output
    lines: list[str] = []
    attachments: dict[str, str] = {}

    x_nodes = [f"x_{j}" for j in range(sizes[0])]
    y_nodes = [f"y_{o}" for o in range(sizes[-1])]
    if not batch:
        lines += _online_sources(problem, x_nodes + y_nodes, attachments)

    z_nodes, h_nodes = [], []
    a_prev = [x_nodes[j] for _ in range(K) for j in range(sizes[0])]  # copy-major a^0 (online only)
    for layer in range(1, L + 1):
        n_in, n_out = sizes[layer - 1], sizes[layer]
        spec = output if layer == L else hidden
        z = unit_nodes("z", layer, K, n_out)
        w = weight_nodes(problem, layer)
        if batch and layer == 1:
            lines.append(_fixed_forward(problem, z, w).rstrip("\n"))
        else:
            k, i = np.divmod(np.arange(K * n_out), n_out)
            for n, (kk, ii) in enumerate(zip(k.tolist(), i.tolist())):
                terms = mult.terms([w[ii * n_in + j] for j in range(n_in)], [a_prev[kk * n_in + j] for j in range(n_in)],
                                   offsets_b=_offsets(problem, rng, n_in))
                lines.append(_cell(z[n], z[n], f"v(b{layer}_{ii})+" + "+".join(terms)))
        if spec.name == "identity":
            h = z
        else:
            h = unit_nodes("h", layer, K, n_out)
            lines += [_cell(hn, hn, sigma_expr(spec, f"v({zn})")) for zn, hn in zip(z, h)]
        z_nodes.append(z)
        h_nodes.append(h)
        a_prev = h

    # errors, from the output down
    d_nodes: list[list[str]] = [[] for _ in range(L)]
    n_top = sizes[-1]
    d_top = unit_nodes("d", L, K, n_top)
    targets = [format_value(v) for v in problem.y.ravel()] if batch else [y_nodes[o] for _ in range(K) for o in range(n_top)]
    if output.name == "identity":
        # the difference a^L − y of a linear output is linear: a unit transconductance from z into a 1 Ω load,
        # and −y as a fixed current (batch) or a −1 S transconductance from the target node (online)
        rows = np.arange(K * n_top)
        if batch:
            lines.append(format_vccs_entries("dz", d_top, z_nodes[-1], rows, rows, np.ones(K * n_top)).rstrip("\n"))
            lines += [f"Iy{dn} {dn} 0 {y}" for dn, y in zip(d_top, targets)]
        else:
            lines.append(format_vccs_entries("dz", d_top, z_nodes[-1] + y_nodes, np.concatenate([rows, rows]),
                                             np.concatenate([rows, n_top + rows]),
                                             np.concatenate([np.ones(n_top), -np.ones(n_top)])).rstrip("\n"))
    else:
        for n, (dn, zn, hn) in enumerate(zip(d_top, z_nodes[-1], h_nodes[-1])):
            y = targets[n] if batch else f"v({targets[n]})"
            window = "" if output.name == "identity" else f"*{_window(output, zn, hn)}"
            lines.append(_cell(dn, dn, f"(v({hn})-{y}){window}"))
    d_nodes[L - 1] = d_top
    factors = problem.feedback_factors
    for layer in range(L - 1, 0, -1):
        n_units, n_up = sizes[layer], sizes[layer + 1]
        d = unit_nodes("d", layer, K, n_units)
        z = z_nodes[layer - 1]
        windows = [_window(hidden, zn, hn) for zn, hn in zip(z, h_nodes[layer - 1])]
        if problem.backward_path == "transpose":
            w_up = weight_nodes(problem, layer + 1)
            d_up = d_nodes[layer]
            for n in range(K * n_units):
                kk, ii = divmod(n, n_units)
                terms = mult.terms([w_up[c * n_units + ii] for c in range(n_up)], [d_up[kk * n_up + c] for c in range(n_up)],
                                   offsets_b=_offsets(problem, rng, n_up))
                lines.append(_cell(d[n], d[n], f"({'+'.join(terms)})*{windows[n]}"))
        else:
            matrix = problem.feedback[layer - 1]
            if factors is not None:
                matrix = matrix * factors[layer - 1]
            source = d_nodes[layer] if problem.backward_path == "chain" else d_top
            j = unit_nodes("j", layer, K, n_units)
            lines.append(_feedback_array(f"fb{layer}", j, source, matrix, K).rstrip("\n"))
            lines += [_cell(dn, dn, f"v({jn})*{win}") for dn, jn, win in zip(d, j, windows)]
        d_nodes[layer - 1] = d

    # weight integrators
    weights, senses = [], []
    c = IDEAL_C_FARAD
    for layer in range(1, L + 1):
        n_in, n_out = sizes[layer - 1], sizes[layer]
        w = weight_nodes(problem, layer)
        tau = problem.tau_s * (np.ones((n_out, n_in + 1)) if problem.tau_factors is None else problem.tau_factors[layer - 1])
        g = c / tau  # (n_out, n_in + 1), the bias's in the last column
        w0 = np.concatenate([problem.weights[layer - 1].ravel(), problem.biases[layer - 1]])
        lines += [f"C{node} {node} 0 {c!r} ic={v}" for node, v in zip(w, format_floats(w0))]
        drive = w
        if sense:
            drive = [f"s{node}" for node in w]
            lines += [f"Vs{node} s{node} {node} 0" for node in w]
            senses.append(tuple(f"i(vs{node})" for node in w))
        scale = 1.0 / K
        d = d_nodes[layer - 1]
        # biases: a linear array from δ (current −g/K per copy's δ)
        k, i = np.divmod(np.arange(K * n_out), n_out)
        bias_drive = drive[n_out * n_in:]
        lines.append(format_vccs_entries(f"gb{layer}", bias_drive, d, i, np.arange(K * n_out), -scale * g[i, -1], load=False).rstrip("\n"))
        weight_drive = drive[: n_out * n_in]
        if batch and layer == 1:
            kk, ii, jj = np.unravel_index(np.arange(K * n_out * n_in), (K, n_out, n_in))
            values = -scale * g[ii, jj] * problem.x[kk, jj]
            lines.append(format_vccs_entries("gw1", weight_drive, d, ii * n_in + jj, kk * n_out + ii, values, load=False).rstrip("\n"))
        else:
            a = x_nodes if layer == 1 else h_nodes[layer - 2]  # online layer 1 reads the input nodes
            lines += _product_drives(layer, weight_drive, d, a, g[:, :-1] * scale, K, n_out, n_in, mult, problem, rng,
                                     online_inputs=(layer == 1))
        if problem.mono and layer >= 2:
            lines += clamp.lines(f"k{layer}", w[: n_out * n_in])
        weights.append(tuple(w))

    circuit = Circuit(title)
    circuit.raw_spice = "\n".join(lines) + "\n"
    elements = sum(text.count("\n") + 1 for text in lines if not text.startswith("."))
    duration = problem.duration_s
    max_step = duration / points if batch else problem.step_time_s / 4
    saves = [f"v({n})" for ws in weights for n in ws]
    saves += [f"v({n})" for n in h_nodes[-1]] + [f"v({n})" for zs in z_nodes[:-1] for n in zs]
    if not batch:
        saves += [f"v({n})" for n in x_nodes + y_nodes]
    saves += [s for layer in senses for s in layer]
    deck = NetlistDeck(circuit, analyses=[Transient(stop_s=duration, step_s=max_step, max_step_s=max_step)],
                       options=dict(_options(problem)),
                       saves=saves, attachments=attachments)
    probes = {n: f"v({n})" for ws in weights for n in ws}
    notes = {
        "backward path": {"transpose": "multipliers reading the forward weight nodes (000 §6.5)",
                          "chain": "fixed random conductances per layer (FA)",
                          "direct": "fixed random conductances from the output error (DFA)"}[problem.backward_path],
        "integrators": f"C = {c:g} F, tau = {problem.tau_s:g} s (pure integrators)",
        "multipliers": mult.level + (f", input offsets sigma {problem.multiplier_offset_v:g} V" if problem.multiplier_offset_v else ""),
        "presentation": (f"batch: {K} copies" if batch else
                         f"online: {problem.steps} presentations of {problem.step_time_s:g} s from a file source"),
    }
    if problem.mono:
        notes["mono-net clamp"] = f"super-diode, g_on = {clamp.g_on_s:g} S on the weights of layers 2 … {L}"
    return MultiLayerCircuit(deck=deck, probes=probes, element_count=elements, notes=notes, weights=tuple(weights),
                             z=tuple(tuple(z) for z in z_nodes), h=tuple(tuple(h) for h in h_nodes),
                             inputs=tuple(x_nodes) if not batch else (), targets=tuple(y_nodes) if not batch else (),
                             sense=tuple(senses), clamp=clamp if problem.mono else None)


def _options(problem: MultiLayerProblem) -> dict:
    """The simulator options of the problem's circuit: Gear where a clamp makes it stiff, else trapezoidal."""
    if problem.mode == "batch":
        return OPTIONS if problem.mono else BATCH_TRAP_OPTIONS
    return ONLINE_OPTIONS if problem.mono else ONLINE_TRAP_OPTIONS


def _fixed_forward(problem: MultiLayerProblem, z: list[str], w: list[str]) -> str:
    """Layer 1 of a batch circuit: ``z_ki = Σ_j x_kj·w_ij + b_i`` as conductances (the data are fixed)."""
    K, n_in, n_out = problem.copies, problem.sizes[0], problem.sizes[1]
    kk, ii, jj = np.unravel_index(np.arange(K * n_out * n_in), (K, n_out, n_in))
    rows = np.concatenate([kk * n_out + ii, np.arange(K * n_out)])
    cols = np.concatenate([ii * n_in + jj, n_out * n_in + np.tile(np.arange(n_out), K)])
    values = np.concatenate([problem.x[kk, jj], np.ones(K * n_out)])
    keep = values != 0
    return format_vccs_entries("x1", z, w, rows[keep], cols[keep], values[keep])


def _feedback_array(prefix: str, j: list[str], source: list[str], matrix: np.ndarray, copies: int) -> str:
    """``j_ki = Σ_c M[c, i]·v(source_kc)`` for every copy: the fixed feedback crossbar (1 Ω sum loads)."""
    n_src, n_units = matrix.shape
    kk, ii, cc = np.unravel_index(np.arange(copies * n_units * n_src), (copies, n_units, n_src))
    values = matrix[cc, ii]
    keep = values != 0
    return format_vccs_entries(prefix, j, source, (kk * n_units + ii)[keep], (kk * n_src + cc)[keep], values[keep])


def _product_drives(layer: int, drive: list[str], d: list[str], a: list[str], g: np.ndarray, copies: int, n_out: int,
                    n_in: int, mult: Multiplier, problem: MultiLayerProblem, rng: np.random.Generator,
                    online_inputs: bool) -> list[str]:
    """Each weight's integrator input ``−g_ij·⟨δ_i a_j⟩`` from multipliers, a few copies per source."""
    out = []
    for i in range(n_out):
        for j in range(n_in):
            node = drive[i * n_in + j]
            gain = format_value(g[i, j])
            for start in range(0, copies, PRODUCTS_PER_SOURCE):
                ks = range(start, min(copies, start + PRODUCTS_PER_SOURCE))
                a_nodes = [a[j] for _ in ks] if online_inputs else [a[k * n_in + j] for k in ks]
                terms = mult.terms([d[k * n_out + i] for k in ks], a_nodes, offsets_b=_offsets(problem, rng, len(ks)))
                out.append(f"Bg{layer}_{i}_{j}_{start} {node} 0 i={gain}*(" + "+".join(terms) + ")")
    return out


def _online_sources(problem: MultiLayerProblem, nodes: list[str], attachments: dict[str, str]) -> list[str]:
    """The file source that plays the presented samples (inputs then targets) and the breakpoint clock."""
    T = problem.step_time_s
    ramp = RAMP_FRACTION * T
    values = np.concatenate([problem.x, problem.y], 1)[problem.order]  # (P, columns)
    P = len(values)
    times = np.concatenate([[0.0], np.repeat(np.arange(1, P) * T, 2) + np.tile([0.0, ramp], P - 1), [P * T]])
    times = np.round(times, 12)  # to the ps: short lines, and ~1e-12 s from the clock's corners
    # rows pair with times: t=0 → sample 0; (pT, sample p−1), (pT + ramp, sample p); (PT, last)
    rows = np.concatenate([values[:1], np.stack([values[:-1], values[1:]], 1).reshape(-1, values.shape[1]), values[-1:]])
    lines = []
    # XSPICE's file source misreads long lines (30 columns at 17 digits failed, "timestep too small"), so
    # the columns are split over several sources of FILE_SOURCE_COLUMNS each, every value kept exact
    for part, start in enumerate(range(0, len(nodes), FILE_SOURCE_COLUMNS)):
        cols = slice(start, start + FILE_SOURCE_COLUMNS)
        group = nodes[cols]
        name = f"samples_{part}.txt"
        table = np.column_stack([times, rows[:, cols]])
        cells = np.array(format_floats(table), dtype=object).reshape(table.shape)  # shortest exact text
        attachments[name] = "".join(" ".join(row) + "\n" for row in cells.tolist())
        zeros, ones = " ".join("0" * len(group)), " ".join("1" * len(group))
        lines += [f"asamples{part} %v([{' '.join(group)}]) samples{part}_src",
                  f".model samples{part}_src filesource (file=\"{name}\" amploffset=[{zeros}] amplscale=[{ones}] "
                  "timeoffset=0 timescale=1 timerelative=false amplstep=false)"]
    return lines + [
        # breakpoints at every boundary and at the end of every ramp, nowhere else: rising at odd
        # boundaries, falling at even ones
        f"Vclock clock 0 PULSE(0 1 {T!r} {ramp!r} {ramp!r} {T - ramp!r} {2 * T!r})",
        "Rclock clock 0 1",
    ]
