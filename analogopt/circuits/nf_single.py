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

#: Simulator accuracy used for co-simulation. The only dynamic nodes are the weight capacitors and the
#: loop is not stiff at its steps, so the trapezoidal rule (error constant 1/12 against Gear-2's 2/9)
#: follows the loop's exact ODE more closely in fewer steps: against Gear-2 at the old 1/50 step cap, on
#: the shipped NF scenarios and the 32×128 and 128×512 tanh loops, 35 % to 40 % fewer steps and 0.44 to
#: 0.69 of the trajectory's distance from the ODE (``python bench/nf_scale.py --methods``). The price:
#: the rule does not damp what is left of the fast modes once the steps grow, so a settled loop rings
#: about its fixed point, 2.5e-7 of the weights' range on nf_momentum (Gear: 1.3e-8). Mixing in backward
#: Euler (xmu = 0.45) damps that but gives back the trajectory's accuracy, so the pure rule stays.
DEFAULT_OPTIONS = {"reltol": 1e-5, "vntol": 1e-7, "method": "trap"}
#: ngspice's current tolerance (A) as a fraction of the integrators' full-scale current C/τ·1 V (1e-12 A
#: at 1 nF and 1 ms). A looser one stops the step control from chasing the vanishing capacitor currents
#: of a settling loop, but 1e-4 already puts nf_momentum 5× and nf_noisy_relu 10× farther from the ODE.
ABSTOL_OF_FULL_SCALE = 1e-6
#: ngspice's largest step, as a fraction 1/MAX_STEP_POINTS of the duration (its own rule is 1/50); the
#: weights between steps are read by a cubic spline. At 20 the trajectory lands 1.0–1.3× as far from the
#: ODE as at 50 (nf_perceptron 1.7×) in a third fewer steps (128×512: 49 against 74, 2.2 s against 3.4 s).
MAX_STEP_POINTS = 20


def simulator_options(problem: NFSingleLayerProblem, integrator_c_farad: float,
                      abstol_of_full_scale: float = ABSTOL_OF_FULL_SCALE) -> dict[str, object]:
    """The ``.options`` of the loop's transient: :data:`DEFAULT_OPTIONS` and an ``abstol`` (A) of
    ``abstol_of_full_scale`` of the fastest integrator's full-scale current C/τ·1 V. From the nominal time
    constants only, so that a Monte Carlo sweep's samples keep one deck shape (one ngspice session)."""
    taus = [problem.tau_s] + ([problem.tau_m_s] if problem.integrator == "cascade" else [])
    full_scale_a = integrator_c_farad / min(taus)
    abstol = float(f"{abstol_of_full_scale * full_scale_a:.3g}")
    return {"reltol": DEFAULT_OPTIONS["reltol"], "abstol": abstol, **DEFAULT_OPTIONS}  # SPICE's usual order


def weight_node(i: int) -> str:
    return f"w{i}"


def build_nf_single(
    problem: NFSingleLayerProblem, *, title: str = "negative feedback optimizer, single layer",
    points: int = MAX_STEP_POINTS,
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
        options=simulator_options(problem, integrator.c_farad),
        saves=save_voltages(w),
    )
    probes = {name: f"v({node})" for name, node in zip(problem.weight_names, w)}
    notes = {
        "integrator": f"{kind}, R = {integrator.r_ohm:g} ohm, C = {integrator.c_farad:g} F",
        "activation": f"{spec.name} (comparator gain {spec.gain:g} V/V)",
    }
    return AnalogCircuit(deck=deck, probes=probes, element_count=elements, notes=notes)
