"""Registry: ``refquant.floats`` block formats (OCP MX, NVFP4)."""

from __future__ import annotations

from tests.hostile.harness import Entry

ENTRIES: list[Entry] = []

EXEMPT: dict[str, str] = {}
