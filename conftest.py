"""Doctests everywhere get ``np`` (NumPy) in their namespace, as the docstrings assume."""

import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _doctest_numpy(doctest_namespace: dict[str, object]) -> None:
    doctest_namespace["np"] = np
