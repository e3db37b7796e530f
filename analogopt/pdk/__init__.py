"""Process design kits: where their SPICE models live and how a deck selects a corner.

Only the GlobalFoundries 180 nm MCU kit (:mod:`analogopt.pdk.gf180mcu`) is supported. Its model files are
fetched by the README's set-up (``scripts/setup_pdk.sh``), never at run time and never committed.
"""

from .gf180mcu import CORNERS, Gf180mcu, PdkMissingError, models_dir

__all__ = ["CORNERS", "Gf180mcu", "PdkMissingError", "models_dir"]
