"""Ledgerline delivery: `from delivery import emit, emit_many, aemit, aemit_many`.

The emit functions live in `delivery.ledger.services`; they are loaded on first use, so that
importing this package never touches Django models before the app registry is ready.
"""

from typing import Any

__all__ = ["aemit", "aemit_many", "emit", "emit_many"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from delivery.ledger import services

        return getattr(services, name)
    raise AttributeError(name)
