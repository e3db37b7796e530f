"""Behavioral feedback functions ``x_f = B(x_o)`` for the generic inverse loop (000 Fig. 1a, Eq. 2).

Each function is one ngspice B-source expression of the loop output's voltage. The numerical twins
of the same names live in :mod:`analogopt.reference.inverse` (kept apart so that the reference
package never imports the SPICE layer); a test checks that both registries agree.
"""

from __future__ import annotations

from PySpice.Spice.Netlist import Circuit

from ..errors import ConfigError
from ..spice.netlist import validate_name

#: name → ngspice expression in ``{x}`` (the output voltage).
FEEDBACK_EXPRESSIONS: dict[str, str] = {
    "cubic": "{x}*{x}*{x}+{x}",
    "exp": "exp({x})",
    "tanh": "tanh({x})",
    "sinh": "sinh({x})",
    "linear": "{x}",
}


def feedback_expression(function: str, node: str) -> str:
    """The B-source expression of ``function`` applied to ``v(node)``."""
    try:
        template = FEEDBACK_EXPRESSIONS[function]
    except (KeyError, TypeError):
        raise ConfigError(
            f"unknown feedback function {function!r}; allowed: {', '.join(sorted(FEEDBACK_EXPRESSIONS))}"
        ) from None
    return template.format(x=f"v({validate_name(node, 'node')})")


def add_feedback_function(circuit: Circuit, name: str, x_node: str, out_node: str, function: str) -> str:
    """Add ``B<name>``: ``v(out_node) = B(v(x_node))``; returns the element name."""
    validate_name(name, "feedback block name")
    circuit.B(name, validate_name(out_node, "node"), circuit.gnd,
              voltage_expression=feedback_expression(function, x_node))
    return f"B{name}"
