"""Registry: placeholder (issue 10)."""

from __future__ import annotations

from tests.hostile.harness import Entry

ENTRIES: list[Entry] = []
EXEMPT: dict[str, str] = {}
