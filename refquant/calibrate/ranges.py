"""Placeholder: being written (issue 10)."""

__all__: list[str] = []
