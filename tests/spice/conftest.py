import tempfile

import pytest


@pytest.fixture
def private_tmp(tmp_path, monkeypatch):
    """Point the temporary directory (TMPDIR, tempfile.tempdir) at a fresh folder, and check after the
    test that no run left an ``analogopt-*`` entry there."""
    root = tmp_path / "tmp"
    root.mkdir()
    monkeypatch.setenv("TMPDIR", str(root))
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    yield root
    left = sorted(p.name for p in root.iterdir() if p.name.startswith("analogopt-"))
    assert not left, f"runs left temporary directories behind: {left}"
