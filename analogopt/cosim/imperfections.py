"""Theory's prediction of where the macro-level NF loop settles, from its parts and scale factors.

Maps the circuit's imperfections onto the loop equation of :mod:`analogopt.reference.imperfections`:
an OTA's output resistance r_out into the weight capacitor C is a leak λ = τ/(r_out·C) (for a loop built
without a leak resistor; with one, the design already folds r_out into τ), and its input offset V_os is an
error offset e_os = V_os/s_e (s_e: volts per unit of error at the OTA's input).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..circuits.nf_macro import MacroParts, ScaleFactors
from ..problems import NFSingleLayerProblem
from ..reference.imperfections import settled_weights


def loop_imperfections(problem: NFSingleLayerProblem, parts: MacroParts, scales: ScaleFactors) -> dict[str, float]:
    """λ and e_os of the macro loop (dimensionless, units of e)."""
    leak = 0.0 if problem.leak else problem.tau_s / (parts.ota_r_out_ohm * scales.c_w_f)
    return {"leak": leak, "error_offset": parts.ota_offset_v / scales.v_per_error}


def predicted_settling(problem: NFSingleLayerProblem, parts: MacroParts, scales: ScaleFactors,
                       ideal_final: np.ndarray) -> dict[str, Any]:
    """The weights theory says the macro loop settles at, and their shift from the ideal loop's."""
    terms = loop_imperfections(problem, parts, scales)
    ideal = settled_weights(problem, start=ideal_final)
    imperfect = settled_weights(problem, leak=terms["leak"], error_offset=terms["error_offset"], start=ideal)
    return {**terms, "ideal_settled_weights": ideal, "predicted_settled_weights": imperfect,
            "predicted_shift": imperfect - ideal}
