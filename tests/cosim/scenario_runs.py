"""Running a shipped scenario through the CLI for a test module's fixtures."""

import json

from analogopt.cli import main


def run_scenario(tmp_path_factory, name, *overrides):
    """Run ``name`` (``--set`` ``overrides``) into a fresh folder; return (folder, metrics)."""
    out = tmp_path_factory.mktemp(name) / "result"
    args = ["run", name, "--out", str(out), "--quiet"]
    for o in overrides:
        args += ["--set", o]
    assert main(args) == 0
    return out, json.loads((out / "metrics.json").read_text())
