"""Registry: other systems' semantics: ``refquant.interop.tf`` and ``.tfmot``."""

from __future__ import annotations

from typing import Any

import numpy as np

from tests.hostile.harness import (
    ACCEPT,
    EITHER,
    REJECT,
    Combo,
    Entry,
    array,
    choice,
    codes,
    flag,
    integer,
    real,
)
from tests.hostile.registry_core import X_POLICY, shape_of
from tests.hostile.registry_interop import F32, g23, x23

# ------------------------------------------------------------------------------------------- TF


_TF_WHERE = "interop.tf docstring (NaN and inf); tests/conformance/test_tf_conformance.py"
# TF outputs NaN for ranges it cannot nudge: a NaN or infinite bound, min == max != 0, a scale that
# overflows (±3e38) or flushes to zero (FTZ); refquant mirrors it (documented, checked against TF).
TF_RANGES = {
    **{
        f"{b}={v}{at}": _TF_WHERE
        for b in ("min", "max")
        for v in ("nan", "inf", "-inf")
        for at in ("", " at [1]")
    },
    "min=1.0 at [1]": _TF_WHERE + " (min == max != 0 in channel 1)",
    "max=1.1754944e-38 at [1]": _TF_WHERE + " (the scale is subnormal and flushed)",
    "max=-1.1754944e-38 at [1]": _TF_WHERE + " (the scale is subnormal and flushed)",
    "combo: range ±3e38": _TF_WHERE + " (max - min overflows float32)",
}
TF_ARGS_RANGES = {  # the _args op rejects NaN and min >= max itself, as TF does
    "min=-inf": _TF_WHERE,
    "max=inf": _TF_WHERE,
    "combo: range ±3e38": _TF_WHERE + " (max - min overflows float32)",
}


def _tf(target: str, vjp: bool, kind: str) -> Entry:
    def base() -> dict[str, Any]:
        if kind == "args":
            kw: dict[str, Any] = dict(inputs=x23(), min=-1.0, max=2.0)
        elif kind == "vars":
            kw = dict(inputs=x23(), min=np.float32(-1.0), max=np.float32(2.0))
        else:
            kw = dict(
                inputs=x23(),
                min=np.array([-1.0, 0.0, -0.5], np.float32),
                max=np.array([2.0, 1.0, 12.0], np.float32),
            )
        return {"grad": g23(), **kw} if vjp else kw

    if kind == "per_channel":
        mn: Any = array(
            nan=REJECT, inf=REJECT, values=True, **{"empty": REJECT, "0-d": REJECT, "scalar": REJECT}
        )
        mx: Any = array(
            nan=REJECT, inf=REJECT, values=True, **{"empty": REJECT, "0-d": REJECT, "scalar": REJECT}
        )
    else:
        mn = real(None, None, **{"1e300": EITHER})
        mx = real(None, None, **{"1e300": EITHER})
    args = {
        "inputs": array(
            nan=ACCEPT, **{**X_POLICY, **({"0-d": REJECT, "scalar": REJECT} if kind == "per_channel" else {})}
        ),
        "min": mn,
        "max": mx,
        "num_bits": integer(2, 16),
        "narrow_range": flag(),
    }
    if vjp:
        args = {"grad": array(like="inputs", nan=ACCEPT, inf=ACCEPT), **args}
    extra = [
        Combo(
            "range ±3e38",
            {"min": -3e38, "max": 3e38}
            if kind != "per_channel"
            else {"min": lambda: np.full(3, -3e38, np.float32), "max": lambda: np.full(3, 3e38, np.float32)},
            EITHER,
            ("min", "max"),
            ("3e+38", "inf"),
        ),
        Combo(
            "subnormal range",
            {"min": 0.0, "max": 1e-40}
            if kind != "per_channel"
            else {"min": lambda: np.zeros(3, np.float32), "max": lambda: np.full(3, 1e-40, np.float32)},
            EITHER,
            ("min", "max"),
            ("1e-40",),
        ),
    ]
    if kind == "args":
        extra.append(
            Combo(
                "min >= max (TF requires min < max)",
                {"min": 2.0, "max": -1.0},
                REJECT,
                ("min", "max"),
                ("2.0", "-1.0"),
            )
        )
    else:
        extra.append(
            Combo(
                "min > max (documented: not rejected)",
                {"min": 2.0, "max": -1.0}
                if kind == "vars"
                else {
                    "min": lambda: np.full(3, 2.0, np.float32),
                    "max": lambda: np.full(3, -1.0, np.float32),
                },
                ACCEPT,
            )
        )
    dt: Any = F32
    return Entry(
        target,
        base,
        args,
        dtype=dt,
        shape=(shape_of("inputs") if not vjp or kind == "args" else None),
        extra=extra,
        contract="TF FakeQuant in float32 with TF's nudging; num_bits 2..16",
        mirrored=TF_RANGES if kind != "args" else TF_ARGS_RANGES,
    )


ENTRIES: list[Entry] = [
    _tf("tf:fake_quant_with_min_max_args", False, "args"),
    _tf("tf:fake_quant_with_min_max_args_vjp", True, "args"),
    _tf("tf:fake_quant_with_min_max_vars", False, "vars"),
    _tf("tf:fake_quant_with_min_max_vars_vjp", True, "vars"),
    _tf("tf:fake_quant_with_min_max_vars_per_channel", False, "per_channel"),
    _tf("tf:fake_quant_with_min_max_vars_per_channel_vjp", True, "per_channel"),
]

# ------------------------------------------------------------------------------------------- TF-MOT


def steps() -> np.ndarray:
    return np.array([0, 100, 200, 250, 300, 1000])


TFMOT_STEP = codes(**{"empty": ACCEPT, "0-d": ACCEPT, "scalar": ACCEPT, "bool codes": EITHER})
SCHED_DT = lambda kw: {".should_prune": np.dtype(bool), ".sparsity": np.dtype(np.float32)}  # noqa: E731

ENTRIES += [
    Entry(
        "tfmot:constant_sparsity",
        lambda: dict(step=steps(), target_sparsity=0.5, begin_step=100),
        {
            "step": TFMOT_STEP,
            "target_sparsity": real(0.0, 1.0, hi_open=True),
            "begin_step": integer(0, None, **{"2**31": ACCEPT}),
            "end_step": integer(-1, None, **{"lo - 1": REJECT, "lo": ACCEPT, "2**31": ACCEPT}),
            "frequency": integer(1, None, **{"2**31": ACCEPT}),
        },
        dtype=SCHED_DT,
        contract="TF-MOT ConstantSparsity: float32 sparsity, in [0, 1)",
    ),
    Entry(
        "tfmot:polynomial_decay",
        lambda: dict(step=steps(), initial_sparsity=0.1, final_sparsity=0.9, begin_step=100, end_step=300),
        {
            "step": TFMOT_STEP,
            "initial_sparsity": real(0.0, 1.0, hi_open=True),
            "final_sparsity": real(0.0, 1.0, hi_open=True),
            "begin_step": integer(0, None, **{"2**31": EITHER}),
            "end_step": integer(100, None, **{"2**31": ACCEPT}),
            "power": real(None, None, **{"1e300": EITHER}),
            "frequency": integer(1, None, **{"2**31": ACCEPT}),
            "powf": choice(("libm", "correctly_rounded")),
            "mode": choice(("eager", "graph")),
        },
        dtype=SCHED_DT,
        extra=[
            Combo("power=nan", {"power": float("nan")}, REJECT, ("power",), ("nan",), finite_in=False),
            Combo("end_step=-1 (TF-MOT rejects)", {"end_step": -1}, REJECT, ("end_step",), ("-1",)),
        ],
        contract="TF-MOT PolynomialDecay in float32; power finite",
        # end_step == begin_step: p = 0/0 = NaN at begin_step, TF-MOT's own result (tfmot docstring)
        mirrored={
            "end_step=lo": "interop.tfmot docstring (NaN at end_step == begin_step)",
            "end_step=np.int64": "interop.tfmot docstring (NaN at end_step == begin_step)",
        },
    ),
]

EXEMPT: dict[str, str] = {
    "tf:FakeQuantGradients": "NamedTuple of three gradients (a plain container)",
    "tfmot:PruningScheduleStep": "NamedTuple (the same type as prune.ScheduleStep, a plain container)",
}
