import io

from analogopt.progress import Progress


class Tty(io.StringIO):
    def isatty(self):
        return True


def test_progress_draws_a_bar_with_eta_on_a_terminal():
    stream = Tty()
    progress = Progress(stream, delay_s=0.0)
    progress.stage("ngspice")
    progress._last_draw = -1.0
    progress.update(0.5)
    progress.done()
    text = stream.getvalue()
    assert "ngspice" in text and "50.0%" in text and "ETA" in text and text.endswith("\n")


def test_progress_is_quiet_for_short_runs_and_plain_in_logs():
    quiet = Tty()
    p = Progress(quiet, delay_s=60.0)
    p.stage("ngspice")
    p.update(0.5)
    assert quiet.getvalue() == ""
    log = io.StringIO()
    p = Progress(log, delay_s=0.0)
    p.stage("digital twin")
    p.update(0.5)
    assert log.getvalue() == "analogopt: digital twin …\n"
