"""Exponential devices in an op-amp's feedback or input path: log and antilog amplifiers (000 Fig. 1b).

A junction (a diode, or a transdiode-connected NPN with its base grounded) has ``I = Is·(e^{V/(n·V_T)} − 1)``.
Placed in the feedback path of an inverting op-amp it makes the loop output the inverse of the
exponential — a logarithm (000 Eq. 7); placed in the input path with a resistor in feedback it makes
an exponential (antilog). Temperature enters through ngspice's own junction laws (``V_T = kT/q`` and the
``Is(T)`` law with ``EG``/``XTI``), set per run by ``.options temp=… tnom=27``.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass
from typing import Literal

from PySpice.Spice.Netlist import Circuit

from ..errors import ConfigError
from ..spice.netlist import validate_name
from .opamp import AnyOpAmp, add_opamp
from .user_block import UserOpAmp, supply_sources

DeviceType = Literal["diode", "bjt"]
DEVICE_TYPES: tuple[str, ...] = ("diode", "bjt")


@dataclass(frozen=True)
class JunctionModel:
    """A diode or transdiode NPN for log/antilog amplifiers (SI units, parameters at ``tnom`` = 27 °C).

    ``is_a`` saturation current (A); ``n`` emission coefficient (NF for the BJT); ``rs_ohm`` series
    resistance (diode RS; the BJT's emitter resistance RE); ``bf`` forward current gain (BJT only);
    ``eg_ev`` band gap and ``xti`` saturation-current temperature exponent (the ``Is(T)`` law).
    """

    device: DeviceType = "diode"
    is_a: float = 1e-14
    n: float = 1.0
    rs_ohm: float = 0.0
    bf: float = 100.0
    eg_ev: float = 1.11
    xti: float = 3.0

    def __post_init__(self) -> None:
        if self.device not in DEVICE_TYPES:
            raise ConfigError(f"log-amp device {self.device!r} is unknown; allowed: {', '.join(DEVICE_TYPES)}")
        for name in ("is_a", "n", "rs_ohm", "bf", "eg_ev", "xti"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ConfigError(f"log-amp device {name} must be a finite number, got {value!r}")
        if not self.is_a > 0:
            raise ConfigError(f"log-amp device is_a must be > 0 A, got {self.is_a!r}")
        if not 0.5 <= self.n <= 5:
            raise ConfigError(f"log-amp device emission coefficient n must be in [0.5, 5], got {self.n!r}")
        if not self.rs_ohm >= 0:
            raise ConfigError(f"log-amp device rs_ohm must be ≥ 0 Ω, got {self.rs_ohm!r}")
        if not self.bf > 0:
            raise ConfigError(f"log-amp device bf must be > 0, got {self.bf!r}")
        if not self.eg_ev > 0:
            raise ConfigError(f"log-amp device eg_ev must be > 0 eV, got {self.eg_ev!r}")

    @property
    def model_name(self) -> str:
        """``dlog_<hash>`` or ``qlog_<hash>``: deterministic in the parameters."""
        digest = hashlib.sha1(repr(sorted(asdict(self).items())).encode()).hexdigest()[:10]
        return f"{'d' if self.device == 'diode' else 'q'}log_{digest}"

    def add_model(self, circuit: Circuit) -> str:
        """Add this device's ``.model`` card to ``circuit`` once; return its name."""
        name = self.model_name
        if name in circuit.model_names:
            return name
        if self.device == "diode":
            circuit.model(name, "D", IS=self.is_a, N=self.n, RS=self.rs_ohm, EG=self.eg_ev, XTI=self.xti)
        else:
            # Only the forward junction matters in a transdiode (V_BC ≈ 0); no Early effect or
            # high-injection knee so that the device is the textbook exponential plus RE.
            circuit.model(name, "NPN", IS=self.is_a, NF=self.n, BF=self.bf, RE=self.rs_ohm,
                          EG=self.eg_ev, XTI=self.xti)
        return name

    def add_junction(self, circuit: Circuit, name: str, high: str, low: str) -> None:
        """Place the junction so that forward current flows from node ``high`` into node ``low``
        (diode anode→cathode; BJT collector = ``high``, grounded base, emitter = ``low``)."""
        model = self.add_model(circuit)
        if self.device == "diode":
            circuit.D(name, high, low, model=model)
        else:
            circuit.BJT(name, high, circuit.gnd, low, model=model)


def add_log_amp(circuit: Circuit, name: str, sum_node: str, out: str, device: JunctionModel,
                opamp: AnyOpAmp) -> dict[str, str]:
    """Inverting log amplifier: current pushed into ``sum_node`` leaves through the junction to ``out``.

    ``v(out) = −n·V_T·ln(I/Is + 1) − I·Rs`` for an ideal op-amp (000 Fig. 1b). Returns the node map. A part
    with supply pins (a user or transistor-level op-amp) runs from ``±supply_v/2`` sources added here,
    its inputs at ground, mid supply.
    """
    validate_name(name, "log-amp name")
    device.add_junction(circuit, f"{name}", sum_node, out)
    supplies = None
    if isinstance(opamp, UserOpAmp):
        lines, supplies = supply_sources(opamp, f"{name}s")
        circuit.raw_spice += lines
    add_opamp(circuit, f"{name}_oa", circuit.gnd, sum_node, out, opamp, supplies)
    return {"sum": sum_node, "out": out}


def add_antilog_amp(circuit: Circuit, name: str, vin: str, out: str, device: JunctionModel, opamp: AnyOpAmp,
                    r_ohm: float) -> dict[str, str]:
    """Inverting antilog amplifier for a *negative* input voltage: the junction conducts from the
    virtual ground into ``vin``, the feedback resistor ``r_ohm`` supplies that current, so
    ``v(out) = R·Is·(e^{−v(vin)/(n·V_T)} − 1)`` — the exact inverse of :func:`add_log_amp`. A part with
    supply pins gets its own ``±supply_v/2`` sources, as in :func:`add_log_amp`."""
    validate_name(name, "antilog-amp name")
    if not (isinstance(r_ohm, (int, float)) and math.isfinite(r_ohm) and r_ohm > 0):
        raise ConfigError(f"antilog feedback resistor r_ohm must be > 0 Ω, got {r_ohm!r}")
    sum_node = f"{name}_sum"
    device.add_junction(circuit, name, sum_node, vin)
    circuit.R(f"{name}_f", out, sum_node, r_ohm)
    supplies = None
    if isinstance(opamp, UserOpAmp):
        lines, supplies = supply_sources(opamp, f"{name}s")
        circuit.raw_spice += lines
    add_opamp(circuit, f"{name}_oa", circuit.gnd, sum_node, out, opamp, supplies)
    return {"sum": sum_node, "out": out}
