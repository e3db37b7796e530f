"""Monte Carlo of the macro NF loop's parts: the ``[circuit.mismatch]`` table, one σ per parameter.

    [circuit.mismatch]
    ota_offset_v = "2m"      # V, absolute: each OTA's own input offset
    opamp_offset_v = "1m"    # V, absolute: each op-amp's own input offset (buffers, inverters, summing amps)
    ota_gm = 0.01            # relative: each integrator OTA's gm (the forward gain A it realizes)
    c_w = 0.005              # relative: each weight capacitor (its τ)
    conductance = 0.01       # relative: each crosspoint of the data and the error crossbar
    gm_scale = 0.05          # relative, per chip: one factor on every OTA's gm
    supply_scale = 0.01      # relative, per chip: the supply (and the reference that tracks it)
    ota_bw_hz = 0.1          # relative, per chip: every OTA's bandwidth
    comparator_bw_hz = 0.1   # relative, per chip: every activation cell's bandwidth

Every sample of ``analogopt sweep --mc N`` at ``circuit.level = "macro"`` draws, from its seed, one
``z ~ N(0, 1)`` per instance (per chip: one per sample) and sets an absolute parameter to
``nominal + σ·z`` and a relative one to ``nominal·(1 + σ·z)``. Each key draws from a stream of its own
(``default_rng([seed, crc32("circuit.mismatch.KEY")])``, instances in the order the generator builds
them), so adding a key, or a ``--vary``, never changes another key's draws, and a sample re-run from its
seed is the same chip. Only parts that do not enter the design are varied: the element values stay those
designed at nominal (a drawn ``c_w_f`` would re-derive gm and cancel itself; ``c_w`` varies the built
capacitors instead). ``ota_gm``, ``c_w`` and ``conductance`` go into the problem (as ``--vary gain``,
``tau``, ``x``/``u`` do), so the twin steps the same mismatched loop; offsets and per-chip factors are the
circuit's alone. ``analogopt run`` is the nominal chip: the table acts in sweeps with ``--mc`` only.
"""

from __future__ import annotations

import dataclasses
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..circuits.nf_macro import MacroParts, instance_names
from ..errors import ConfigError
from ..problems import NFSingleLayerProblem
from ..values import Table

#: Per-instance keys: unit of σ (None: relative) and what one draw varies
PER_INSTANCE = {
    "ota_offset_v": ("V", "each OTA's input offset"),
    "opamp_offset_v": ("V", "each op-amp's input offset"),
    "ota_gm": (None, "each integrator OTA's gm"),
    "c_w": (None, "each weight capacitor"),
    "conductance": (None, "each crosspoint conductance"),
}
#: Per-chip keys (relative σ): ``[circuit]`` parameters the design does not derive element values from
PER_CHIP = ("gm_scale", "supply_scale", "ota_bw_hz", "comparator_bw_hz")


@dataclass(frozen=True)
class Mismatch:
    """σ per ``[circuit.mismatch]`` key (V for the offsets, relative for the rest); empty: none."""

    sigmas: dict[str, float]

    def __bool__(self) -> bool:
        return any(s > 0 for s in self.sigmas.values())


def read_mismatch(table: Table) -> Mismatch:
    """``[circuit.mismatch]`` checked: known keys, σ ≥ 0 (relative σ at most 0.5: a factor 1 + σ·z must
    stay positive)."""
    allowed = (*PER_INSTANCE, *PER_CHIP)
    unknown = sorted(set(table.keys()) - set(allowed))
    if unknown:
        raise ConfigError(f"{table.where}: unknown key(s) {', '.join(unknown)}; Monte Carlo parameters: "
                          f"per instance {', '.join(PER_INSTANCE)}; per chip {', '.join(PER_CHIP)} (design values "
                          "such as c_w_f re-derive the element values: vary the built parts instead)")
    sigmas = {}
    for key in table.keys():
        unit = PER_INSTANCE[key][0] if key in PER_INSTANCE else None
        sigmas[key] = (table.number(key, unit=unit, low=0) if unit else table.number(key, low=0, high=0.5))
    return Mismatch(sigmas)


def mismatch_of(config: dict[str, Any]) -> Mismatch:
    """The ``[circuit.mismatch]`` table of a scenario's configuration (checked)."""
    circuit = config.get("circuit") if isinstance(config.get("circuit"), dict) else {}
    return read_mismatch(Table(circuit.get("mismatch", {}), "circuit.mismatch"))


def _normal(seed: int, key: str, shape: tuple[int, ...] = ()) -> np.ndarray:
    rng = np.random.default_rng([int(seed), zlib.crc32(f"circuit.mismatch.{key}".encode())])
    return rng.standard_normal(shape)


def draw_mismatch(mismatch: Mismatch, problem: NFSingleLayerProblem, parts: MacroParts,
                  seed: int) -> tuple[NFSingleLayerProblem, MacroParts]:
    """``problem`` and ``parts`` as the chip of sample ``seed`` (module docstring); themselves when the
    table is empty. Problem-level mismatch multiplies whatever ``problem`` already holds (``--vary``)."""
    if not mismatch:
        return problem, parts
    s = mismatch.sigmas
    m, n = problem.n_samples, problem.n_weights
    changes: dict[str, np.ndarray] = {}
    if s.get("conductance"):
        changes["x_forward"] = problem.data_matrix * (1.0 + s["conductance"] * _normal(seed, "conductance.x", (m, n)))
        changes["u_matrix"] = problem.error_matrix * (1.0 + s["conductance"] * _normal(seed, "conductance.u", (n, m)))
    if s.get("c_w"):
        changes["tau_w_s"] = problem.weight_taus_s * (1.0 + s["c_w"] * _normal(seed, "c_w", (n,)))
    if s.get("ota_gm"):
        changes["forward_gains"] = problem.weight_gains * (1.0 + s["ota_gm"] * _normal(seed, "ota_gm", (n,)))
    if changes:
        problem = dataclasses.replace(problem, **changes)
    chip = {key: getattr(parts, key) * (1.0 + s[key] * float(_normal(seed, key)))
            for key in PER_CHIP if s.get(key)}
    otas, amps = instance_names(problem)
    offsets: list[tuple[str, float]] = []
    for key, names in (("ota_offset_v", otas), ("opamp_offset_v", amps)):
        if s.get(key):
            offsets += zip(names, (s[key] * _normal(seed, key, (len(names),))).tolist())
    try:
        parts = dataclasses.replace(parts, **chip, mismatch_offsets_v=tuple(offsets))
    except ConfigError as exc:
        raise ConfigError(f"Monte Carlo sample {seed}: {exc}") from None
    return problem, parts


def parameter_sigma(config: dict[str, Any], path: str) -> tuple[float, bool]:
    """σ of scenario path ``path`` for a corner's ``"±Ksigma"`` value, and whether it is absolute (V):
    ``circuit.KEY`` (``circuit.opamp.KEY``) reads ``[circuit.mismatch]`` ``KEY`` (``opamp_KEY``).
    :class:`ConfigError` saying where to give it when the table has none."""
    # the per-instance gm, C and G keys vary derived element values: no scenario path stands for them
    paths = {f"circuit.{k.replace('opamp_', 'opamp.')}": k for k in ("ota_offset_v", "opamp_offset_v", *PER_CHIP)}
    if path not in paths:
        raise ConfigError(f"a σ is declared for {', '.join(paths)} only")
    key = paths[path]
    sigmas = mismatch_of(config).sigmas
    if key not in sigmas:
        raise ConfigError(f"add it to [circuit.mismatch] as {key}")
    return float(sigmas[key]), PER_INSTANCE.get(key, (None,))[0] is not None
