import shutil
import signal

import pytest

# A shell starts a background job with SIGINT ignored, and Python then keeps it ignored, which the
# interrupt tests would read as analogopt ignoring Ctrl-C; the suite restores Python's own handler (a
# caught signal is reset to the default across exec, so the CLI subprocesses the tests start get it too).
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_collection_modifyitems(config, items):
    if shutil.which("ngspice") is None:  # the suite needs real ngspice; say so instead of failing obscurely
        pytest.exit("ngspice is not installed: run scripts/setup.sh (installs Debian's ngspice)", returncode=4)


@pytest.fixture
def run_cli(capsys):
    """``run_cli("run", NAME, ...)`` → (exit code, stderr) of the real CLI entry point, in process."""
    from analogopt.cli import main

    def run(*args: str) -> tuple[int, str]:
        code = main(list(args))
        return code, capsys.readouterr().err

    return run


@pytest.fixture
def check_one_line_error():
    """Assert that a CLI failure is exactly one ``analogopt: error:`` line matching ``pattern``,
    with exit code ``code``, and that the result directory ``out`` was not created."""
    import re

    def check(exit_code: int, stderr: str, *, code: int, pattern: str, out=None) -> None:
        assert exit_code == code, stderr
        lines = stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("analogopt: error:"), stderr
        assert re.search(pattern, lines[0]), lines[0]
        assert "Traceback" not in stderr
        if out is not None:
            assert not out.exists()

    return check
