"""SPICE layer: netlist text, the ngspice runners, raw-file reading and error diagnosis.

Knows nothing about learning; never imports torch.
"""

from .netlist import (
    Analysis, NetlistDeck, Transient, OperatingPoint, DCSweep, ACSweep, validate_name, validate_names,
)
from .native import NativeRunner
from .rawfile import read_raw
from .runner import NgspiceRunner, SharedLibraryRunner, Runner, RunResult, ngspice_available, stop_all
from .waveforms import MissingVectorError, Waveforms

__all__ = [
    "Analysis", "NetlistDeck", "Transient", "OperatingPoint", "DCSweep", "ACSweep", "validate_name", "validate_names",
    "read_raw", "NgspiceRunner", "SharedLibraryRunner", "NativeRunner", "Runner", "RunResult", "ngspice_available",
    "stop_all",
    "MissingVectorError", "Waveforms",
]
