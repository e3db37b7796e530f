"""Weight filters in real ngspice against their discrete twins (000 Eq. 10, Eq. 22, §6.1)."""

from __future__ import annotations

import functools
import math
import subprocess

import numpy as np
import pytest
import torch
from PySpice.Spice.Netlist import Circuit

from analogopt.blocks.filters import INTEGRATOR_TYPES, FALIntegrator, RCCascade
from analogopt.blocks.integrator import RCLowPass
from analogopt.circuits.filter_check import build_filter_check, sample_times
from analogopt.data.tabular import load_tabular
from analogopt.errors import ConfigError, NetlistError
from analogopt.reference.filters import cascade_samples, fal_samples, pole_factor, rc_lowpass_samples
from analogopt.reference.optim import cascade_momentum_update
from analogopt.spice import NgspiceRunner, ngspice_available

needs_ngspice = pytest.mark.skipif(not ngspice_available(), reason="ngspice not installed")

DT = 1e-6
TAU_M = -DT / math.log(0.9)  # β_m = exp(−Δt/τ_m) = 0.9 exactly
TAU = 20e-6
W0 = np.array([0.2, -0.1, 0.0])


@functools.lru_cache(maxsize=None)
def _digits():
    split = load_tabular("digits", seed=1)
    return torch.as_tensor(split.x_train), torch.as_tensor(split.y_train)


def recorded_drive(steps: int = 150, channels: int = 3) -> np.ndarray:
    """w' = −∇L of three weights of a softmax classifier trained by mini-batch SGD on digits, scaled to 1 V peak."""
    x, y = _digits()
    torch.manual_seed(1)
    layer = torch.nn.Linear(64, 10).double()
    opt = torch.optim.SGD(layer.parameters(), lr=0.05)
    order = torch.randperm(len(x))
    rows = []
    for s in range(steps):
        idx = order[(s * 16) % (len(x) - 16) :][:16]
        opt.zero_grad()
        torch.nn.functional.cross_entropy(layer(x[idx]), y[idx]).backward()
        rows.append(-layer.weight.grad[[0, 3, 7], [20, 36, 43]][:channels].clone())
        opt.step()
    drive = torch.stack(rows).numpy()
    return drive / np.abs(drive).max()


BLOCKS = {
    "rc": (RCLowPass(tau_s=TAU, gamma=2.0), lambda d: {"w": rc_lowpass_samples(d, dt_s=DT, tau_s=TAU, gamma=2.0, initial=W0)}),
    "rcnl": (RCLowPass(tau_s=TAU, gamma=2.0, leak=False),
             lambda d: {"w": rc_lowpass_samples(d, dt_s=DT, tau_s=TAU, gamma=2.0, leak=False, initial=W0)}),
    "casc": (RCCascade(tau_m_s=TAU_M, tau_s=TAU, gamma=2.0),
             lambda d: cascade_samples(d, dt_s=DT, tau_m_s=TAU_M, tau_s=TAU, gamma=2.0, initial_w=W0)),
    "cascnl": (RCCascade(tau_m_s=TAU_M, tau_s=TAU, gamma=2.0, leak=False),
               lambda d: cascade_samples(d, dt_s=DT, tau_m_s=TAU_M, tau_s=TAU, gamma=2.0, leak=False, initial_w=W0)),
    "fal": (FALIntegrator(tau_m_s=TAU_M, tau_v_s=TAU_M, tau_s=TAU, gamma=0.2, s_floor_v=1e-2),
            lambda d: fal_samples(d, dt_s=DT, tau_m_s=TAU_M, tau_v_s=TAU_M, tau_s=TAU, gamma=0.2, s_floor_v=1e-2,
                                  initial_w=W0)),
    "falnl": (FALIntegrator(tau_m_s=TAU_M, tau_v_s=2 * TAU_M, tau_s=TAU, gamma=0.2, leak=False, s_floor_v=1e-2),
              lambda d: fal_samples(d, dt_s=DT, tau_m_s=TAU_M, tau_v_s=2 * TAU_M, tau_s=TAU, gamma=0.2, leak=False,
                                    s_floor_v=1e-2, initial_w=W0)),
}


@pytest.fixture(scope="module")
def spice_run():
    drive = recorded_drive()
    circuit = build_filter_check(drive, dt_s=DT, filters={k: b for k, (b, _) in BLOCKS.items()}, initial_w=W0)
    result = NgspiceRunner(timeout_s=120).run(circuit.deck)
    return drive, circuit, result.analysis("tran")


@needs_ngspice
@pytest.mark.parametrize("name", list(BLOCKS))
def test_spice_filters_match_the_discrete_twin_at_every_sample_point(spice_run, name):
    drive, circuit, waves = spice_run
    steps, channels = drive.shape
    # t = 0 is the imposed initial condition (ngspice's raw file starts at its first time step).
    at = sample_times(steps, DT)[1:]
    twin = BLOCKS[name][1](drive)
    assert set(twin) <= {"w", "m", "v", "s"}
    for role, values in twin.items():
        spice = waves.sample([circuit.probes[f"{name}/{c}/{role}"] for c in range(channels)], at)
        reference = values[1:]
        scale = np.abs(reference).max(axis=0)
        assert np.all(scale > 1e-2)  # the signal really moved
        relative = np.abs(spice - reference) / scale
        assert relative.max() < 1e-3, f"{name}.{role}: worst {relative.max():.2e} at sample {relative.argmax(0)}"


@needs_ngspice
def test_filter_check_netlist_runs_unchanged_in_plain_ngspice(tmp_path):
    circuit = build_filter_check(np.array([[1.0], [-0.5], [0.25]]), dt_s=DT,
                                 filters={"fal": BLOCKS["fal"][0], "casc": BLOCKS["casc"][0]})
    (tmp_path / "netlist.cir").write_text(circuit.netlist)
    proc = subprocess.run(["ngspice", "-b", "-r", "out.raw", "netlist.cir"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0 and (tmp_path / "out.raw").stat().st_size > 0
    assert ".control" not in circuit.netlist
    # every behavioral element is marked as such in its name
    behavioral = [line.split()[0] for line in circuit.netlist.splitlines() if line.startswith("B")]
    assert len(behavioral) == 3 and all("behavioral" in b for b in behavioral)


def test_first_order_twin_is_eq22_with_exact_pole():
    drive = recorded_drive(60, 2)
    beta = pole_factor(dt_s=DT, tau_s=TAU_M)
    assert beta == pytest.approx(0.9, rel=1e-14)
    got = rc_lowpass_samples(drive, dt_s=DT, tau_s=TAU_M)
    m = np.zeros(2)
    for k in range(60):  # 000 Eq. 22 written out
        m = beta * m + (1 - beta) * drive[k]
        np.testing.assert_allclose(got[k + 1], m, rtol=1e-12, atol=1e-15)


def test_exact_cascade_approaches_the_optimizer_recurrence_as_dt_over_tau_shrinks():
    # The circuit's second stage sees m move inside each interval; the optimizer's uses the held m^t.
    base = np.random.default_rng(0).normal(size=(50, 2))  # the same held sequence at every resolution
    deviations = []
    for ratio in (0.1, 0.01, 0.001):
        steps = int(round(5 / ratio))  # five τ_m of analog time at every resolution
        d = np.repeat(base, steps // 50, axis=0)
        twin = cascade_samples(d, dt_s=ratio * TAU_M, tau_m_s=TAU_M, tau_s=TAU_M, gamma=1.0, leak=False)["w"]
        w, m = torch.zeros(2, dtype=torch.float64), torch.zeros(2, dtype=torch.float64)
        for k in range(d.shape[0]):
            cascade_momentum_update(w, drive=torch.as_tensor(d[k]), m=m, lr=ratio, beta_m=1 - ratio, leak=0.0)
        deviations.append(float(np.abs(w.numpy() - twin[-1]).max() / np.abs(twin).max()))
    # first order in Δt/τ_m: ten times finer, ten times closer
    assert 8 < deviations[0] / deviations[1] < 12 and 8 < deviations[1] / deviations[2] < 12
    assert deviations[2] < 5e-4


def test_integrator_types_share_the_rc_lowpass_interface():
    for kind, cls in INTEGRATOR_TYPES.items():
        block = cls(tau_m_s=1e-5, tau_s=1e-4) if kind == "cascade" else cls(tau_m_s=1e-5, tau_v_s=1e-5, tau_s=1e-4)
        circuit = Circuit("t")
        internal = block.add(circuit, "x0", "inp", "out", 0.5)
        assert internal[0] == "x0_m"
        assert "ic=0.5" in str(circuit)
        # what the NF loop generator reads from RCLowPass for its notes
        assert block.r_ohm == pytest.approx(1e-4 / block.c_farad) and block.c_farad == 1e-9


INVALID = [
    (RCCascade, {"tau_m_s": 0.0, "tau_s": 1e-3}, r"tau_m_s must be a finite number > 0 s, got 0\.0"),
    (RCCascade, {"tau_m_s": 1e-3, "tau_s": -1.0}, r"tau_s must be a finite number > 0 s, got -1\.0"),
    (RCCascade, {"tau_m_s": 1e-3, "tau_s": 1e-3, "gamma": 0.0}, r"gamma must be finite and non-zero, got 0\.0"),
    (RCCascade, {"tau_m_s": 1e-3, "tau_s": 1e-3, "c_farad": math.inf}, r"c_farad must be a finite number > 0 F"),
    (FALIntegrator, {"tau_m_s": 1e-3, "tau_v_s": 1e-3, "tau_s": 1e-3, "s_floor_v": 0.0},
     r"s_floor_v must be a finite number > 0 V, got 0\.0"),
    (FALIntegrator, {"tau_m_s": 1e-3, "tau_v_s": math.nan, "tau_s": 1e-3}, r"tau_v_s must be a finite number > 0 s"),
    (FALIntegrator, {"tau_m_s": 1e-3, "tau_v_s": 1e-3, "tau_s": 1e-3, "s_ref_v": "1V"},
     r"s_ref_v must be a finite number > 0 V, got '1V'"),
]


@pytest.mark.parametrize("cls, kwargs, message", INVALID)
def test_invalid_block_parameters(cls, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        cls(**kwargs)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"drive": np.ones((1, 1))}, ConfigError, r"drive must have shape \(steps ≥ 2, channels ≥ 1\)"),
        ({"drive": np.array([[1.0], [np.nan]])}, ConfigError, "drive contains NaN or inf"),
        ({"drive": np.ones((3, 1)), "dt_s": 0.0}, ConfigError, r"dt_s must be a finite number > 0 s, got 0\.0"),
        ({"drive": np.ones((3, 1)), "filters": {}}, ConfigError, "filters must name at least one integrator block"),
        ({"drive": np.ones((3, 1)), "rise_fraction": 0.5}, ConfigError, r"rise_fraction must be in \(0, 0\.1\]"),
        ({"drive": np.ones((3, 1)), "filters": {"bad name": RCLowPass(tau_s=1e-3)}}, NetlistError,
         "'bad name' is not a valid SPICE name"),
    ],
)
def test_invalid_filter_check_inputs(kwargs, error, message):
    args = {"dt_s": 1e-6, "filters": {"rc": RCLowPass(tau_s=1e-3)}} | kwargs
    drive = args.pop("drive")
    with pytest.raises(error, match=message):
        build_filter_check(drive, **args)
