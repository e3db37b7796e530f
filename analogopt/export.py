"""``analogopt export``: a scenario's circuit as a standalone netlist set (see :mod:`analogopt.spice.export`).

The flat netlist is the one ``analogopt run SCENARIO`` simulates. ``nf_single`` and the crossbar kinds
build it directly from the scenario (no simulation); other circuit kinds run their experiment once into
a scratch directory and take the ``netlist.cir`` it wrote. Pure-torch kinds have no circuit to export.
"""

from __future__ import annotations

from pathlib import Path

from .errors import ConfigError
from .scenarios import Scenario

#: Kinds whose experiment is pure PyTorch: nothing to export.
NO_CIRCUIT_KINDS = ("rules_table", "fal_vs_adam", "recirculation_pinv")

#: Readable names of the negative-feedback loop's blocks (prefixes of analogopt.circuits.nf_single).
NF_BLOCKS = {
    "x": "data crossbar: z_k = sum_i x_ki w_i (VCCS array, 1 ohm sum loads)",
    "q": "error nonlinearity: q_k = (y_k - sigma(z_k)) [* sigma'(z_k)^p] (one B source per sample)",
    "u": "error crossbar U of 000 Eq. 12 merged with the forward gain A and the integrator input: A*gamma*x_ki^p/R per crosspoint (S)",
    "lp": "weight integrators (RC low-pass, 000 Eq. 10, or RC cascade, Eq. 22)",
}


def flat_netlist(scenario: Scenario, *, allow_large: bool = False) -> str:
    """The flat netlist text ``analogopt run`` simulates for ``scenario`` (its main ``netlist.cir``);
    ``allow_large`` skips the size check (see analogopt.limits)."""
    if scenario.kind in NO_CIRCUIT_KINDS:
        raise ConfigError(f"scenario {scenario.name} (kind {scenario.kind}) is a pure-PyTorch experiment: "
                          "it has no circuit to export")
    from .experiments import build_experiment

    experiment = build_experiment(scenario, allow_large=allow_large)
    if scenario.kind == "nf_single":
        from .circuits.nf_single import build_nf_single
        from .cosim.nf_experiment import _safe_title

        return build_nf_single(experiment.problem, title=_safe_title(scenario.title)).deck.format()
    if scenario.kind.startswith("crossbar_"):
        from .blocks.crossbar import map_matrix

        matrix = experiment.problem["X" if experiment.mode == "pinv" else "A"]
        return experiment.build(map_matrix(matrix, experiment.device), None).netlist
    from .progress import SilentProgress
    from .results import RunDirectory

    from .scratch import scratch_dir

    with scratch_dir("export") as scratch:
        with RunDirectory(scratch / "run") as out:
            experiment.run(out, SilentProgress())
        path = scratch / "run" / "netlist.cir"
        if not path.exists():
            raise ConfigError(f"scenario {scenario.name} (kind {scenario.kind}) wrote no netlist: nothing to export")
        return path.read_text()


def export_scenario(scenario: Scenario, out: Path, *, allow_large: bool = False) -> list[Path]:
    """Write the exported files of ``scenario`` into ``out`` (created); returns their paths."""
    from .spice.export import export_netlist, format_readme

    flat = flat_netlist(scenario, allow_large=allow_large)
    titles = NF_BLOCKS if scenario.kind == "nf_single" else {}
    exported = export_netlist(flat, block_titles=titles)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in exported.files.items():
        (out / name).write_text(text)
        written.append(out / name)
    readme = format_readme(exported, title=scenario.title, scenario=scenario.name,
                           notes={"kind": scenario.kind, "blocks": "; ".join(f"{k}: {v}" for k, v in titles.items())}
                           if titles else {"kind": scenario.kind})
    (out / "README.md").write_text(readme)
    written.append(out / "README.md")
    return written
