"""The one list of reproduction items, and how the command line selects from it."""

from __future__ import annotations

import importlib
from typing import Sequence

from ..errors import ConfigError
from .base import Item

#: Modules holding each paper's items (an ``ITEMS`` tuple each), in report order.
PAPER_MODULES = {paper: f"analogopt.reproduction.paper{paper}" for paper in ("000", "001", "002", "003", "004")}


def all_items() -> list[Item]:
    items: list[Item] = []
    for module in PAPER_MODULES.values():
        items.extend(importlib.import_module(module).ITEMS)
    return items


def select(names: Sequence[str]) -> list[Item]:
    """Items named by key (``000-fig4ab``) or by paper (``000``), in report order; none named: all."""
    items = all_items()
    if not names:
        return items
    keys = {it.key for it in items}
    wanted = set()
    for name in names:
        if name in PAPER_MODULES:
            wanted |= {it.key for it in items if it.paper == name}
        elif name in keys:
            wanted.add(name)
        else:
            raise ConfigError(f"unknown reproduction item {name!r}; choose a paper ({', '.join(PAPER_MODULES)}) or an "
                              "item (see 'analogopt reproduce --list')")
    return [it for it in items if it.key in wanted]
