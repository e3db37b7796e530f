"""What a circuit generator returns: a deck to run and a probe map saying which node is what."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from ..spice.netlist import NetlistDeck


@dataclass
class AnalogCircuit:
    """A generated circuit, not yet simulated.

    ``probes`` maps a quantity's name (``"w0"``) to the SPICE vector that carries it (``"v(w0)"``);
    ``element_count`` is the number of netlist elements (a cost indicator: SPICE time grows with it).
    """

    deck: NetlistDeck
    probes: Mapping[str, str]
    element_count: int
    notes: Mapping[str, str] = field(default_factory=dict)

    @property
    def netlist(self) -> str:
        return self.deck.format()
