"""The SPICE activation expressions and the PyTorch ones are the same functions (real ngspice)."""

import numpy as np
import pytest
import torch
from PySpice.Spice.Netlist import Circuit

from analogopt.blocks.activation import sigma_expr, slope_expr
from analogopt.problems import ACTIVATIONS, ActivationSpec
from analogopt.reference.activations import sigma, sigma_slope
from analogopt.spice import DCSweep, NetlistDeck, NgspiceRunner


def test_spice_and_torch_activations_agree():
    specs = [ActivationSpec(name, gain=20.0, slope=0.05) for name in ACTIVATIONS]
    c = Circuit("activation check")
    c.V("z", "z", c.gnd, 0)
    for j, spec in enumerate(specs):
        c.BehavioralSource(f"s{j}", f"s{j}", c.gnd, voltage_expression=sigma_expr(spec, "v(z)"))
        c.BehavioralSource(f"d{j}", f"d{j}", c.gnd, voltage_expression=slope_expr(spec, "v(z)"))
    waves = NgspiceRunner().run(NetlistDeck(c, [DCSweep("vz", -2.5, 2.5, 0.01)], options={"reltol": 1e-9, "vntol": 1e-12})).analysis("dc")
    z = torch.as_tensor(waves.axis)
    for j, spec in enumerate(specs):
        np.testing.assert_allclose(waves[f"s{j}"], sigma(spec, z).numpy(), atol=1e-7, err_msg=spec.name)
        np.testing.assert_allclose(waves[f"d{j}"], sigma_slope(spec, z).numpy(), atol=1e-7, err_msg=spec.name)


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_closed_form_slope_is_the_derivative(name):
    spec = ActivationSpec(name, gain=7.0, slope=0.1)
    z = torch.linspace(-2, 2, 101, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(sigma(spec, z).sum(), z)
    torch.testing.assert_close(grad, sigma_slope(spec, z.detach()))
