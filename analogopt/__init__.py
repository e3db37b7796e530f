"""analogopt: analog circuit co-simulation of learning systems.

Every experiment is one problem, two machines, one comparison: a SPICE circuit run in ngspice and a
PyTorch digital twin of the same learning rule, compared side by side.
"""

__version__ = "0.1.0"
