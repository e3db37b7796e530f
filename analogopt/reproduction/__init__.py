"""``analogopt reproduce``: the papers' figures and tables beside analogopt's own numbers.

One item per figure, table or claim of papers 000–004 that analogopt covers. Each item runs real
experiments (scenarios through ngspice, the rule library's training runs, twins), states how its setup
differs from the paper's, and ends in a verdict with its measured reason (:mod:`.base`). The items live
in one module per paper (``paper000`` … ``paper004``); :mod:`.registry` is their one list and
:mod:`.report` writes the report. Everything here sits above :mod:`analogopt.experiments`.
"""
