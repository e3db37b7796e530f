"""A dense array of voltage-controlled current sources: ``v(out_k) = Σ_i G[k, i]·v(in_i)``.

This is how data enters a circuit: each summing node ``out_k`` has a 1 Ω load to ground and receives
the currents ``G[k, i]·v(in_i)`` (G in S). Linear elements only, so ngspice stamps them once into its
matrix instead of differentiating one long behavioral expression per node. The lines are formatted
as plain text in one pass: PySpice element objects would cost ~12 µs each, which dominates at 10⁵+
elements.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from PySpice.Spice.Netlist import Circuit

from ..spice.netlist import format_floats, validate_name, validate_names

#: Load of each summing node (Ω); 1 Ω makes the node voltage equal the summed current in A.
SUM_LOAD_OHM = 1.0


def format_vccs_array(
    prefix: str, out_nodes: Sequence[str], in_nodes: Sequence[str], g: np.ndarray, *, load: bool = True
) -> str:
    """Netlist lines for the array (zero entries are omitted) plus, with ``load``, the 1 Ω summing
    loads; without it the currents flow into whatever the out nodes already connect to."""
    g = np.asarray(g, dtype=np.float64)
    if g.shape != (len(out_nodes), len(in_nodes)):
        raise ValueError(f"conductance matrix shape {g.shape} does not match {len(out_nodes)}×{len(in_nodes)} nodes")
    rows, cols = np.nonzero(g)
    return format_vccs_entries(prefix, out_nodes, in_nodes, rows, cols, g[rows, cols], load=load)


def format_vccs_entries(
    prefix: str, out_nodes: Sequence[str], in_nodes: Sequence[str], rows: np.ndarray, cols: np.ndarray,
    g: np.ndarray, *, load: bool = True,
) -> str:
    """:func:`format_vccs_array` for a sparse array given as entries: ``g[n]`` (S) from ``in_nodes[cols[n]]``
    into ``out_nodes[rows[n]]`` (a structured array, e.g. a batch circuit's data, is never made dense)."""
    validate_name(prefix, "element prefix")
    validate_names([*out_nodes, *in_nodes], "node")
    values = format_floats(g)
    # Gname 0 out in 0 g: the source drives g·v(in) from ground into ``out``.
    lines = [f"G{prefix}_{k}_{i} 0 {out_nodes[k]} {in_nodes[i]} 0 {v}"
             for k, i, v in zip(np.asarray(rows).tolist(), np.asarray(cols).tolist(), values)]
    loads = [f"R{prefix}_load_{k} {node} 0 {SUM_LOAD_OHM!r}" for k, node in enumerate(out_nodes)] if load else []
    return "\n".join([*lines, *loads]) + "\n"


def add_vccs_array(
    circuit: Circuit, prefix: str, out_nodes: Sequence[str], in_nodes: Sequence[str], g: np.ndarray,
    *, load: bool = True,
) -> int:
    """Attach the array to ``circuit``; returns the number of elements added."""
    text = format_vccs_array(prefix, out_nodes, in_nodes, g, load=load)
    circuit.raw_spice += text
    return text.count("\n")
