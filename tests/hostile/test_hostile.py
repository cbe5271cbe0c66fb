"""Every public callable against the hostile set (issue 8, section 2).

One test per hostile call: it fails with the function, the argument, the
hostile value, what happened and what was expected. Failing tests here are
defects to fix in ``refquant`` (or contracts to document), not tests to
loosen. ``python -m tests.hostile.report`` gives the tally by class.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from refquant.check import strategies as hs
from tests.hostile import registry
from tests.hostile.api import public_callables, resolve
from tests.hostile.harness import REJECT, Case, run_case

CASES = registry.all_cases()


def test_every_public_callable_has_a_registry_entry() -> None:
    missing = registry.uncovered()
    assert not missing, (
        "public callables without a hostile-registry entry (add one to tests/hostile/registry_<area>.py, "
        f"or exempt a plain container with the reason): {missing}"
    )


def test_registry_names_only_public_callables() -> None:
    assert not registry.stale(), f"registry targets that are not public (any more): {registry.stale()}"


def test_the_public_api_is_enumerated() -> None:
    names = {f"{m}.{n}" for m, n, _ in public_callables()}
    assert "refquant.quantize" in names and "refquant.prune.unstructured_mask" in names
    assert any(n.endswith(".pact") for n in names)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile(case: Case) -> None:
    failures = run_case(case)
    if failures:
        pytest.fail("\n".join(str(f) for f in failures), pytrace=False)


# A light, derandomized property check on top of the enumerated set (the ``ci`` profile caps it).


@given(v=hs.hostile_floats(np.float32), s=hs.hostile_scales(np.float32))
def test_quantize_defined_or_clear(v: np.float32, s: object) -> None:
    quantize = resolve("refquant:quantize")
    x = np.array([v, 0.5], dtype=np.float32)
    try:
        q = quantize(x, s, 0, -128, 127, nan="zero_point")
    except (ValueError, TypeError) as e:
        assert "scale" in str(e) or "x" in str(e), (
            f"quantize({x!r}, scale={s!r}): message names no argument: {e}"
        )
        return
    assert q.dtype == np.int8 and q.shape == (2,)
    assert np.all((q >= -128) & (q <= 127))


def test_strategies_catalogues_are_fresh_objects() -> None:
    a, b = (
        hs.hostile_array_cases(np.ones((2, 3), np.float32)),
        hs.hostile_array_cases(np.ones((2, 3), np.float32)),
    )
    assert all(x.value is not y.value for x, y in zip(a, b, strict=True) if isinstance(x.value, np.ndarray))
    assert [c.label for c in a] == [c.label for c in b]
    assert any(c.valid is False for c in hs.hostile_scale_cases()) and REJECT == "reject"


@given(st.data())
def test_strategies_draw_catalogue_values(data: st.DataObject) -> None:
    amt = data.draw(hs.hostile_amounts())
    labels = [c.value for c in hs.hostile_amount_cases()]
    assert any(amt is v or repr(amt) == repr(v) for v in labels)
