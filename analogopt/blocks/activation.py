"""SPICE expressions for activations σ(z) and their window functions σ'(z).

Each activation is what hardware would build: jumps become finite-gain, smoothly saturating
comparators (see :class:`analogopt.problems.ActivationSpec` for the gain's meaning). The same formulas
are implemented in PyTorch by :mod:`analogopt.reference.activations`; a test evaluates both.
"""

from __future__ import annotations

from ..problems import ActivationSpec
from ..spice.netlist import format_value

_STEPS = (-1.0, 0.0, 1.0)


def _relu(z: str, eps: str) -> str:
    return f"0.5*(({z})+sqrt(({z})*({z})+{eps}*{eps}))"


def _relu_slope(z: str, eps: str) -> str:
    return f"0.5*(1+({z})/sqrt(({z})*({z})+{eps}*{eps}))"


def sigma_expr(spec: ActivationSpec, z: str) -> str:
    """σ(z) as an ngspice B-source expression of the expression ``z`` (e.g. ``"v(z3)"``)."""
    g = format_value(spec.gain)
    eps = format_value(1.0 / spec.gain)
    a = format_value(spec.slope)
    if spec.name == "identity":
        return f"({z})"
    if spec.name == "tanh":
        return f"tanh({z})"
    if spec.name == "sigmoid":
        return f"(1/(1+exp(-({z}))))"
    if spec.name == "relu":
        return _relu(z, eps)
    if spec.name == "leaky_relu":
        return f"({a}*({z})+(1-{a})*{_relu(z, eps)})"
    if spec.name == "sign":
        return f"tanh({g}*({z}))"
    if spec.name == "staircase":
        return "(" + "+".join(f"tanh({g}*(({z})-({format_value(c)})))" for c in _STEPS) + ")"
    raise ValueError(spec.name)  # unreachable: ActivationSpec validates the name


def slope_expr(spec: ActivationSpec, z: str) -> str:
    """σ'(z), the window function of 000 §4.2, as an ngspice expression."""
    g = format_value(spec.gain)
    eps = format_value(1.0 / spec.gain)
    a = format_value(spec.slope)
    if spec.name == "identity":
        return "1"
    if spec.name == "tanh":
        return f"(1-tanh({z})*tanh({z}))"
    if spec.name == "sigmoid":
        return f"(1/(2+exp({z})+exp(-({z}))))"
    if spec.name == "relu":
        return _relu_slope(z, eps)
    if spec.name == "leaky_relu":
        return f"({a}+(1-{a})*{_relu_slope(z, eps)})"
    if spec.name == "sign":
        return f"{g}*(1-tanh({g}*({z}))*tanh({g}*({z})))"
    if spec.name == "staircase":
        return (
            f"{g}*("
            + "+".join(f"(1-tanh({g}*(({z})-({format_value(c)})))*tanh({g}*(({z})-({format_value(c)}))))" for c in _STEPS)
            + ")"
        )
    raise ValueError(spec.name)

