"""Theory's prediction of where the macro-level NF loop settles, from its parts and scale factors.

Maps the circuit's imperfections onto the loop equation of :mod:`analogopt.reference.imperfections`:

- an OTA's output resistance r_out into the weight capacitor C is a leak λ = τ/(r_out·C) (for a loop
  built without a leak resistor; with one, the design already folds r_out into τ), and the capacitor's
  own leakage resistance R_c adds τ/(R_c·C) in either case;
- the OTA's input offset V_os is an error offset e_os = V_os/s_e (s_e: volts per unit of error at the
  OTA's input);
- the OTA's output swing limit, ``ota_headroom_v`` inside the supply, is a weight rail
  w_rail = (V_ref − headroom)/s_w with the OTA's knee k = knee_v/s_w;
- quantized conductance pairs are the matrices :func:`~analogopt.circuits.nf_macro.applied_matrices`
  returns, written into the problem as the crossbars it stands for.

A chip's operating point (corners, Monte Carlo: ``MacroParts`` docstring) enters the same way: the offset at
temperature plus each OTA's own mismatch offset is a per-weight e_os; the gm factor scales each weight's
γ·A, the capacitor factor its τ, and the conductance factor both crossbars' matrices; the op-amps' own
offsets give a pre-activation offset per sample and an error offset per weight (:func:`amplifier_offsets`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from ..circuits.nf_macro import MacroParts, ScaleFactors, applied_matrices, crossbar_conductances, ota_for
from ..problems import NFSingleLayerProblem
from ..reference.imperfections import LoopImperfections, MatchedTwin, NoFixedPointError, final_weights, settled_weights
from ..reference.trajectory import Trajectory

#: The imperfections theory models, and the ``[circuit]`` key that sets each one's magnitude
MODELLED = {
    "ota_r_out_ohm": "finite OTA gain (output resistance, a leak)",
    "c_leak_ohm": "weight capacitor leakage (a leak)",
    "ota_offset_v": "OTA input offset (a constant error term)",
    "ota_headroom_v": "integrator swing limit (weights clip at the rail)",
    "levels": "conductance quantization (quantized data and error matrices)",
}


def loop_imperfections(problem: NFSingleLayerProblem, parts: MacroParts, scales: ScaleFactors) -> LoopImperfections:
    """λ, e_os (per weight), w_rail and the knee of the macro loop (units of the loop equation)."""
    if parts.is_ideal("integrators"):  # a plain transconductor into C: none of the integrator's terms
        return LoopImperfections()
    leak = 0.0 if problem.leak else problem.tau_s / (parts.ota_r_out_ohm * scales.c_w_f)
    if parts.c_leak_ohm is not None:
        leak += problem.tau_s / (parts.c_leak_ohm * scales.c_w_f)
    ota = ota_for(parts, scales.gm_s)
    own = dict(parts.mismatch_offsets_v)
    n = problem.n_weights
    offsets = np.array([(parts.ota_offset_at_temperature_v + own.get(f"ota{i}", 0.0)) / scales.v_per_error
                        for i in range(n)])
    z_offset = None
    if not parts.is_ideal("opamps") and any(not name.startswith("ota") for name in own):
        line_offsets, z_offset = amplifier_offsets(problem, parts, scales)
        offsets = offsets + line_offsets
    return LoopImperfections(leak=leak, error_offset=tuple(offsets) if len(set(offsets)) > 1 else float(offsets[0]),
                             weight_rail=parts.weight_rail, knee=ota.knee_v / scales.v_per_weight,
                             z_offset=z_offset)


def amplifier_offsets(problem: NFSingleLayerProblem, parts: MacroParts,
                      scales: ScaleFactors) -> tuple[np.ndarray, tuple[float, ...]]:
    """What the op-amps' own offsets (``mismatch_offsets_v``: ``buf{i}``, ``inv{i}``, ``z{k}``, ``ep{i}``,
    ``en{i}``) do to the loop equation: an error offset per weight (units of e) and a pre-activation offset
    per sample (units of z), from the summing nodes' KCL (docs/nf_macro.md, "Theory of the imperfections").

    A weight buffer's offset V_b moves the copy the crossbar sees by β = V_b/s_w; an inverter's V_i moves the
    inverted copy by 2·V_i; a summing amplifier passes its offset with its noise gain 1 + R·ΣG of its line."""
    own = dict(parts.mismatch_offsets_v)
    n, m = problem.n_weights, problem.n_samples
    g_pos, g_neg, u_pos, u_neg = crossbar_conductances(problem, parts, scales)
    v = lambda prefix, count: np.array([own.get(f"{prefix}{j}", 0.0) for j in range(count)])  # noqa: E731
    beta = v("buf", n) / scales.v_per_weight
    v_inv, v_z, v_ep, v_en = v("inv", n), v("z", m), v("ep", n), v("en", n)
    r_z, r_e = scales.r_z_ohm, scales.r_e_ohm
    dz = ((g_pos - g_neg) / scales.s_per_data) @ beta + (
        v_z * (1.0 + r_z * (g_pos + g_neg).sum(axis=1)) - 2.0 * r_z * (g_pos @ v_inv)) / scales.v_per_z
    de = (v_en * (1.0 + r_e * u_neg.sum(axis=1)) - v_ep * (1.0 + r_e * u_pos.sum(axis=1))) / scales.v_per_error
    return de, tuple(float(x) for x in dz)


def applied_problem(problem: NFSingleLayerProblem, parts: MacroParts, scales: ScaleFactors) -> NFSingleLayerProblem:
    """``problem`` as the chip builds it: the matrices the (quantized, temperature-shifted) crossbars
    apply, each weight's γ·A scaled by the OTAs' gm factor and its τ by the capacitors' factor; itself
    when the chip is the design."""
    changes = {}
    if parts.levels is not None or parts.g_factor != 1.0:
        x_applied, u_applied = applied_matrices(problem, parts, scales)
        changes.update(x_forward=x_applied, u_matrix=u_applied)
    if parts.gm_factor != 1.0:
        changes["forward_gains"] = problem.weight_gains * parts.gm_factor
    if parts.c_factor != 1.0:
        changes["tau_w_s"] = problem.weight_taus_s * parts.c_factor
    return dataclasses.replace(problem, **changes) if changes else problem


def predicted_settling(problem: NFSingleLayerProblem, parts: MacroParts, scales: ScaleFactors,
                       ideal_final: np.ndarray, *, deadline: float | None = None) -> dict[str, Any]:
    """Where theory says the macro loop ends (the imperfect loop equation integrated over the run) and
    settles (its fixed point, None where it has none near the ideal one), beside the ideal loop's.

    ``ideal_final``: the ideal loop's weights at the end of the run (the loop's ODE); ``predicted_shift``
    is the imperfect loop's end point minus that."""
    terms = loop_imperfections(problem, parts, scales)
    imperfect_problem = applied_problem(problem, parts, scales)
    final = final_weights(imperfect_problem, terms, deadline=deadline)
    try:
        ideal = settled_weights(problem, start=ideal_final)
        settled = settled_weights(imperfect_problem, terms, start=final)
    except NoFixedPointError:
        ideal = settled = None
    return {**dataclasses.asdict(terms), "ideal_final_weights": np.asarray(ideal_final, dtype=float),
            "predicted_final_weights": final, "predicted_shift": final - ideal_final,
            "ideal_settled_weights": ideal, "predicted_settled_weights": settled}


def matched_twin(problem: NFSingleLayerProblem, parts: MacroParts, scales: ScaleFactors, *, record_every: int,
                 deadline: float | None = None) -> Trajectory:
    """The twin with every imperfection theory models (:class:`~analogopt.reference.imperfections.MatchedTwin`
    on the quantized crossbars' matrices), recorded as the plain twin is."""
    twin = MatchedTwin(applied_problem(problem, parts, scales), loop_imperfections(problem, parts, scales))
    return twin.run(record_every=record_every, deadline=deadline)
