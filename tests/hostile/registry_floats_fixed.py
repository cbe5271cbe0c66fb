"""Registry: ``refquant.floats`` (fixed point and codebooks)."""

from __future__ import annotations

from tests.hostile.harness import Entry

ENTRIES: list[Entry] = []

EXEMPT: dict[str, str] = {}
