"""The package's imports point one way: utilities ← spice, pdk ← blocks ← circuits; reference (never the SPICE
side) ← train; all of them ← cosim ← experiments ← sweep, reproduction ← commands ← cli. Every import is
counted, at module level or inside a function."""

import ast
from pathlib import Path

import analogopt

PACKAGE = Path(analogopt.__file__).parent

#: Modules every layer may use: errors, values, result files, progress, the scenario reader, data sets.
UTILITIES = {"analogopt", "__version__", "errors", "units", "values", "limits", "scratch", "progress", "results",
             "report", "plots", "scenarios", "problems", "data", "interrupts"}

_BELOW_COSIM = UTILITIES | {"spice", "pdk", "blocks", "circuits", "reference", "train"}
ALLOWED: dict[str, set[str]] = {
    **{room: UTILITIES for room in UTILITIES},
    "spice": UTILITIES,
    "pdk": UTILITIES,
    "blocks": UTILITIES | {"spice", "pdk"},
    "circuits": UTILITIES | {"spice", "pdk", "blocks"},
    "reference": UTILITIES,
    "train": UTILITIES | {"reference"},
    "cosim": _BELOW_COSIM,
    "experiments": _BELOW_COSIM | {"cosim"},
    "sweep": _BELOW_COSIM | {"cosim", "experiments"},
    "reproduction": _BELOW_COSIM | {"cosim", "experiments"},
    "commands": _BELOW_COSIM | {"cosim", "experiments", "sweep", "reproduction"},
    "cli": _BELOW_COSIM | {"cosim", "experiments", "sweep", "reproduction", "commands"},
}


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "analogopt"


def _imports(path: Path, text: str | None = None) -> list[tuple[int, str]]:
    """(line, imported analogopt module or name) for every import in the file at ``path`` (or in
    ``text``, read as that file)."""
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    package = list(relative.parts if path.name == "__init__.py" else relative.parts[:-1])
    found = []
    for node in ast.walk(ast.parse(path.read_text() if text is None else text)):
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            names = [target] if node.module else [f"{target}.{alias.name}" for alias in node.names]
            found += [(node.lineno, name) for name in names if name.startswith("analogopt")]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("analogopt")]
    return found


def test_no_import_runs_up_the_layers():
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        room = _room(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
        assert room in ALLOWED, f"{path}: room {room!r} has no place in the layers; add it to ALLOWED"
        for line, target in _imports(path):
            if _room(target) != room and _room(target) not in ALLOWED[room]:
                wrong.append(f"{path.relative_to(PACKAGE.parent)}:{line} ({room}) imports {target}")
    assert not wrong, "imports against the layers:\n" + "\n".join(wrong)


def test_the_walk_sees_relative_imports_inside_functions():
    as_file = PACKAGE / "reference" / "rules" / "base.py"
    text = "import os\n\ndef f():\n    from ...spice import runner\n    from .. import blocks\n"
    assert _imports(as_file, text) == [(4, "analogopt.spice"), (5, "analogopt.reference.blocks")]


def test_no_kind_is_named_outside_its_home():
    """Scenario kinds live in analogopt/experiments/ alone: sweeps, commands and the CLI reach them through
    the protocol, so adding a kind never touches them."""
    from analogopt.experiments.registry import KINDS

    places = [*sorted((PACKAGE / "sweep").glob("*.py")), *sorted((PACKAGE / "commands").glob("*.py")),
              PACKAGE / "cli.py"]
    named = [f"{path.relative_to(PACKAGE.parent)} names {kind}" for path in places
             for kind in KINDS if kind in path.read_text()]
    assert not named, named
