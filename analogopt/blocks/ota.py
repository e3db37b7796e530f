"""Operational transconductance amplifier (OTA) macromodel, written inline (one instance per weight).

An OTA turns a differential input voltage into an output current ``gm·v_d``; into a capacitor it is the
integrator of 000 Eq. 10. The model has what a designer budgets for:

- input offset ``offset_v`` (V, added to ``inp``);
- a bandwidth pole ``bw_hz``: the input difference passes a first-order low-pass (an internal 1 mS
  stage into 1 kΩ ‖ C, about the reference) before the output stage;
- output swing limits ``v_low``…``v_high``: the output current fades out over ``knee_v`` as the
  output approaches the rail it is pushing toward (the current source runs out of headroom), so a
  weight capacitor charges no further than the rail;
- output resistance ``r_out_ohm`` to the reference: finite DC gain ``gm·r_out``, which is a leak;
- optionally input-referred white noise (:class:`~analogopt.blocks.noise.TransientNoise`, one stream per
  instance): its voltage on a node of its own drives a transconductor ``gm`` into the output, the current
  a source in series with ``inp`` would give below the bandwidth pole. It bypasses the pole (and the
  swing limits) on purpose: fed through the 1 MHz pole, each sample's corner made ngspice resolve the
  pole's 160 ns response, 135 s for the noisy-ReLU loop's 6000 samples against 0.2 s without noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import ConfigError
from ..spice.netlist import format_value
from .noise import TransientNoise

#: The internal pole stage: 1 mS into 1 kΩ (unity DC gain), C set by the bandwidth
_POLE_G_S = 1e-3
_POLE_R_OHM = 1e3


@dataclass(frozen=True)
class OTAModel:
    """OTA parameters (SI). ``gm_s`` (S); ``r_out_ohm`` (Ω); ``offset_v`` (V); ``bw_hz`` (Hz);
    ``v_low``/``v_high`` output swing limits (V); ``knee_v``: how close to a limit the current fades (V)."""

    gm_s: float
    r_out_ohm: float = 1e12
    offset_v: float = 0.0
    bw_hz: float = 1e6
    v_low: float = 0.0
    v_high: float = 3.3
    knee_v: float = 0.02
    #: an ideal transconductor: ``gm·v_d`` into ``out`` and nothing else (no offset, pole, limits or r_out)
    ideal: bool = False

    def __post_init__(self) -> None:
        for name in ("gm_s", "r_out_ohm", "bw_hz", "knee_v"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ConfigError(f"OTA {name} must be a finite number > 0, got {value!r}")
        if not math.isfinite(self.offset_v):
            raise ConfigError(f"OTA offset_v must be finite, got {self.offset_v!r}")
        if not self.v_high - self.v_low > 2 * self.knee_v:
            raise ConfigError(f"OTA swing v_low = {self.v_low:g} V … v_high = {self.v_high:g} V is narrower than its knees")
        if not self.ideal and abs(self.offset_v) >= (self.v_high - self.v_low) / 2:
            # in unity feedback (out to inn, inp mid-swing) the output nulls at inp + offset: past half the
            # swing that is beyond a rail, and every loop around the OTA sits on it
            raise ConfigError(f"OTA offset_v = {self.offset_v:g} V is not below half its output swing "
                              f"((v_high − v_low)/2 = {(self.v_high - self.v_low) / 2:g} V): every loop around it "
                              "would sit on a rail")

    @property
    def dc_gain(self) -> float:
        """gm·r_out (V/V): the open-loop gain into an unloaded output."""
        return self.gm_s * self.r_out_ohm

    def lines(self, name: str, inp: str, inn: str, out: str, ref: str, *,
              noise: tuple[TransientNoise, int, float] | None = None,
              attachments: dict[str, str] | None = None) -> list[str]:
        """Netlist lines of one instance (6 elements, 5 without offset, two more with noise): current
        ``gm·v_d`` into ``out``, ``r_out`` from ``out`` to ``ref``. ``noise``: (source, stream, duration_s)
        of this instance's input-referred noise; its samples' file goes into ``attachments``."""
        if self.ideal:
            return [f"G{name} {ref} {out} {inp} {inn} {format_value(self.gm_s)}"]
        plus, text = inp, []
        if self.offset_v != 0.0:
            plus = f"{name}_os"
            text.append(f"V{name}_os {plus} {inp} {format_value(self.offset_v)}")
        pole = f"{name}_p"
        c_pole = 1.0 / (2 * math.pi * self.bw_hz * _POLE_R_OHM)
        # the pole node sits at ref + v_d, so every node of the model stays inside the supply
        text += [
            f"G{name}_in {ref} {pole} {plus} {inn} {format_value(_POLE_G_S)}",
            f"R{name}_p {pole} {ref} {format_value(_POLE_R_OHM)}",
            f"C{name}_p {pole} {ref} {format_value(c_pole)}",
        ]
        if noise is not None:
            if attachments is None:
                raise ValueError("an OTA with noise needs an attachments dict for its samples' file")
            source, stream, duration_s = noise
            lines, files = source.source(f"{name}_nz", f"{name}_nz", stream, duration_s)
            noise_lines = lines + [f"G{name}_nz {ref} {out} {name}_nz 0 {format_value(self.gm_s)}"]
            attachments.update(files)
        else:
            noise_lines = []
        knee, lo, hi = (format_value(v) for v in (self.knee_v, self.v_low, self.v_high))
        v = f"v({pole},{ref})"
        headroom_up = f"(1-exp(-max({hi}-v({out}),0)/{knee}))"
        headroom_down = f"(1-exp(-max(v({out})-{lo},0)/{knee}))"
        # B n+ n- i=…: the current leaves n+ and enters n-, so "ref out" pushes it into the output
        text.append(f"B{name}_out {ref} {out} i={format_value(self.gm_s)}*{v}*({v}>0?{headroom_up}:{headroom_down})")
        text.append(f"R{name}_ro {out} {ref} {format_value(self.r_out_ohm)}")
        return text + noise_lines
