"""Generator: the single-layer negative-feedback optimizer of 000 Fig. 2 as a circuit.

Signal flow per weight i and sample k (000 §3, Eq. 8–12)::

    z_k  = Σ_i x_ki · w_i                     data crossbar (VCCS array), node z<k>
    q_k  = σ'(z_k)^p · (y_k − σ(z_k))         one small behavioral source per sample, node q<k>
                                              (the σ'^p factor only for window / beta_pow error gains)
    e_i  = Σ_k x_ki^p · q_k                   error crossbar U                           (Eq. 12)
    w'_i = A · e_i                            forward gain                                (Eq. 11)
    τ dw_i/dt = −w_i + γ · w'_i              RC low-pass weight integrator, node w<i>   (Eq. 10)
                                              (or two in cascade, Eq. 22: node lp<i>_m holds m)

The last three lines are one array of transconductances ``A·γ·x_ki^p/R`` (S) from q<k> into the
integrator's capacitor node: an OTA-C integrator whose input stage is the error crossbar.

The weights are capacitor voltages (V); ``z`` and ``q`` are node voltages (V); the merged crossbar
delivers currents (A). The loop gain is
negative because U carries the sign of β = σ'·x (000 §3.2).
"""

from __future__ import annotations

import dataclasses

import numpy as np
from PySpice.Spice.Netlist import Circuit

from ..blocks.activation import sigma_expr, slope_expr
from ..blocks.filters import RCCascade
from ..blocks.integrator import RCLowPass
from ..blocks.vccs_array import add_vccs_array
from ..problems import NFSingleLayerProblem
from ..spice.netlist import NetlistDeck, Transient, format_value, save_voltages
from .base import AnalogCircuit

#: Simulator accuracy used for co-simulation: tight enough that the weights agree with an exact ODE
#: solution to ~1e-5 of their range, loose enough for ngspice to take large steps once the loop settles.
DEFAULT_OPTIONS = {"reltol": 1e-5, "abstol": 1e-12, "vntol": 1e-7, "method": "gear"}


def weight_node(i: int) -> str:
    return f"w{i}"


def build_nf_single(
    problem: NFSingleLayerProblem, *, title: str = "negative feedback optimizer, single layer", points: int = 50
) -> AnalogCircuit:
    """The circuit, a transient over the problem's analog duration, and the weight probes.

    ``points`` only sets ngspice's maximum step (duration/points); ngspice chooses the steps.
    """
    m, n = problem.n_samples, problem.n_weights
    p = problem.error_power
    circuit = Circuit(title)
    z = [f"z{k}" for k in range(m)]
    q = [f"q{k}" for k in range(m)]
    w = [weight_node(i) for i in range(n)]

    elements = add_vccs_array(circuit, "x", z, w, problem.data_matrix)

    spec = problem.activation
    windowed = problem.error_gain in ("window", "beta_pow")
    sources = []
    for k in range(m):
        zk = f"v({z[k]})"
        diff = f"({format_value(problem.y[k])}-{sigma_expr(spec, zk)})"
        if windowed:
            window = f"({slope_expr(spec, zk)})"
            diff = "*".join([diff] + [window] * p)
        sources.append(f"Bq{k} {q[k]} 0 v={diff}")
    circuit.raw_spice += "\n".join(sources) + "\n"  # as text: one PySpice object per sample costs more than ngspice's run at small sizes
    elements += m

    if problem.integrator == "cascade":
        integrator = RCCascade(tau_m_s=problem.tau_m_s, tau_s=problem.tau_s, gamma=problem.gamma, leak=problem.leak)
        kind = f"RC cascade (momentum), tau_m = {problem.tau_m_s:g} s then tau = {problem.tau_s:g} s"
    else:
        integrator = RCLowPass(tau_s=problem.tau_s, gamma=problem.gamma, leak=problem.leak)
        kind = f"RC low-pass, tau = {problem.tau_s:g} s"
    # Mismatch (problem.tau_w_s / forward_gains): each weight gets its own R·C and amplifier gain.
    taus, gains = problem.weight_taus_s, problem.weight_gains
    drive_nodes, siemens = [], np.empty(n)
    for i in range(n):
        block = integrator if problem.tau_w_s is None else dataclasses.replace(integrator, tau_s=float(taus[i]))
        node, siemens[i] = block.add_driven(circuit, f"lp{i}", w[i], float(problem.w0[i]))
        drive_nodes.append(node)
    elements += n * (integrator.element_count - 1)  # add_driven leaves out the input VCCS

    # The error crossbar U of Eq. 12, the forward gain A (Eq. 11) and the integrator's input
    # transconductance merge into one VCCS per crosspoint: weight i's integrator receives the current
    # (A_i·γ/R_i)·Σ_k U_ik·q_k. Keeping e and w' as separate nodes would chain two dense arrays through
    # n extra unknowns and more fill-in for ngspice's sparse LU (measured 75.7 s against 28.9 s at 128×512).
    elements += add_vccs_array(circuit, "u", drive_nodes, q, problem.error_matrix * (gains * siemens)[:, None], load=False)

    duration = problem.duration_s
    deck = NetlistDeck(
        circuit,
        analyses=[Transient(stop_s=duration, step_s=duration / points, max_step_s=duration / points)],
        options=dict(DEFAULT_OPTIONS),
        saves=save_voltages(w),
    )
    probes = {name: f"v({node})" for name, node in zip(problem.weight_names, w)}
    notes = {
        "integrator": f"{kind}, R = {integrator.r_ohm:g} ohm, C = {integrator.c_farad:g} F",
        "activation": f"{spec.name} (comparator gain {spec.gain:g} V/V)",
    }
    return AnalogCircuit(deck=deck, probes=probes, element_count=elements, notes=notes)
