import shutil

import pytest


def pytest_collection_modifyitems(config, items):
    if shutil.which("ngspice") is None:  # the suite needs real ngspice; say so instead of failing obscurely
        pytest.exit("ngspice is not installed: run scripts/setup.sh (installs Debian's ngspice)", returncode=4)
