"""The demo's figure: accuracy against bit width (quantization) and against sparsity (pruning).

Drawn from the result of :func:`refquant.recipes.demo.run_demo`, that is from
the JSON that ``refquant demo --json`` writes (``refquant plot out.json``).
Needs matplotlib (``pip install refquant[plot]``), imported only when a
figure is drawn; no pyplot, so no global backend or figure state changes.

* Left panel: post-training quantization at 2 to 8 bits (weights and
  activations at the same width, and weights only), the QAT rows and the
  int8 per-tensor row, against the float accuracy. The y-axis shows the
  region of the points within 10 points of float; a point below it (the
  2-bit collapse) is drawn as a triangle on the lower edge with its value
  written beside it. Series that share x positions are offset sideways so
  that equal values stay visible.
* Right panel: the pruning rows, accuracy against sparsity, with their
  parameter counts; same y-axis.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["check_result", "plot_result"]

_ROW_KEYS = ("method", "weight_bits", "activation_bits", "sparsity", "params", "accuracy")
_SWEEP_KEYS = ("weight_bits", "activation_bits", "accuracy")

#: Points further than this below float are off the readable scale and marked on the lower edge.
OFF_SCALE = 0.10


def check_result(result: object) -> dict[str, Any]:
    """``result`` if it has the shape of a demo result, else ``ValueError`` naming what is missing.

    Examples
    --------
    >>> check_result({"float_accuracy": 0.9, "rows": []})["rows"]
    []
    >>> check_result({"rows": []})
    Traceback (most recent call last):
    ...
    ValueError: not a refquant demo result: no 'float_accuracy'
    """
    if not isinstance(result, dict):
        raise ValueError(f"not a refquant demo result: a JSON object is needed, got {type(result).__name__}")
    for key in ("float_accuracy", "rows"):
        if key not in result:
            raise ValueError(f"not a refquant demo result: no {key!r}")
    if not _CHECKS["accuracy"](result["float_accuracy"]):
        raise ValueError(f"not a refquant demo result: float_accuracy={result['float_accuracy']!r}")
    for name, keys in (("rows", _ROW_KEYS), ("sweep", _SWEEP_KEYS)):
        entries = result.get(name, [])
        if not isinstance(entries, list):
            raise ValueError(f"not a refquant demo result: {name!r} is not a list")
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict) or any(k not in entry for k in keys):
                raise ValueError(f"not a refquant demo result: {name}[{i}] lacks one of {', '.join(keys)}")
            bad = [k for k in keys if not _CHECKS[k](entry[k])]
            if bad:
                raise ValueError(f"not a refquant demo result: {name}[{i}] {bad[0]}={entry[bad[0]]!r}")
    return result


def plot_result(result: Mapping[str, Any], path: str, *, dpi: int = 144) -> None:
    """Save the demo's two-panel figure to ``path`` (format from the extension: .png, .pdf, .svg, ...).

    Parameters
    ----------
    result : dict
        As returned by :func:`refquant.recipes.demo.run_demo` or read from
        ``refquant demo --json``; without ``"sweep"`` the left panel shows the
        table's quantization rows only.
    path : str
    dpi : int
        Resolution of raster formats.

    Notes
    -----
    Exercised by ``tests/test_demo.py`` (it writes a file, so no doctest).
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import PercentFormatter

    check_result(dict(result))
    float_acc = float(result["float_accuracy"])
    rows = {r["method"]: r for r in result["rows"]}
    sweep = [s for s in result.get("sweep", []) if s["weight_bits"] is not None]
    accs = [float_acc, *(r["accuracy"] for r in result["rows"]), *(s["accuracy"] for s in sweep)]
    lo, hi = _limits(accs, float_acc)

    fig = Figure(figsize=(11, 4.8), layout="constrained")
    axq, axp = fig.subplots(1, 2, sharey=True, gridspec_kw={"width_ratios": [3, 2]})
    for ax, label in ((axq, f"float32 ({float_acc:.2%})"), (axp, None)):
        ax.axhline(float_acc, color="0.45", linestyle="--", linewidth=1, label=label)
        ax.set_ylim(lo, hi)
        ax.yaxis.set_major_formatter(PercentFormatter(xmax=1, decimals=1))
        ax.grid(True, color="0.92")
        ax.set_axisbelow(True)
    off_scale: list[tuple[Any, float, float, str, str]] = []
    colors = iter(("C2", "C3", "C4", "C5", "C6", "C8", "C9", "C1", "C0"))  # not C7, the grey of float
    edge = {"edgecolor": "black", "linewidth": 0.5, "zorder": 4}

    # Quantization: the sweep as two lines offset sideways, the table's other rows beside their width.
    series = (
        (True, "PTQ per-channel W, activations same width", "o", "C0", -0.08, "W+A"),
        (False, "PTQ per-channel W only, float activations", "s", "C1", 0.08, "W only"),
    )
    for with_act, label, marker, color, dx, what in series:
        pts = sorted(
            (s["weight_bits"], s["accuracy"]) for s in sweep if (s["activation_bits"] is not None) == with_act
        )
        if pts:
            xs = [b + dx for b, _ in pts]
            axq.plot(xs, [a for _, a in pts], marker=marker, color=color, markersize=5, label=label)
            off_scale += [(axq, b + dx, a, color, f"{b}-bit {what}") for b, a in pts if a < lo]
    qat = [r for r in result["rows"] if r["method"].startswith("qat") and r["weight_bits"] is not None]
    ptq = [r for r in result["rows"] if r["method"].startswith("ptq") and r["weight_bits"] is not None]
    # with the sweep, only the PTQ row the sweep lacks (int8 per tensor); without it, all PTQ rows
    beside = qat + [r for r in ptq if not sweep or r["method"] == "ptq-int8-per-tensor"]
    markers = iter(("*", "D", "^", "p", "H", "v", "<", ">", "d"))
    same_width = [sum(q["weight_bits"] == r["weight_bits"] for q in beside[:i]) for i, r in enumerate(beside)]
    for r, k in zip(beside, same_width, strict=True):
        alone = sum(q["weight_bits"] == r["weight_bits"] for q in beside) == 1
        x = r["weight_bits"] + (0.24 if alone else (-0.24, 0.24, -0.36, 0.36)[k % 4])
        marker, color = next(markers, "o"), next(colors, "0.3")
        act = "float A" if r["activation_bits"] is None else f"int{r['activation_bits']} A"
        axq.scatter([x], [r["accuracy"]], marker=marker, s=190 if marker == "*" else 60, color=color,
                    label=f"{r['method']} (int{r['weight_bits']} W, {act})", **edge)  # fmt: skip
        if r["accuracy"] < lo:
            off_scale.append((axq, x, r["accuracy"], color, r["method"]))
    axq.set_xlim(1.5, 8.6)
    axq.set_xticks(range(2, 9))
    axq.set_xlabel("weight bits (the table's rows are set beside their bit width)")
    axq.set_ylabel("test accuracy")
    axq.set_title("quantization")

    # Pruning: accuracy against sparsity.
    dense = rows.get("float32", {}).get("params")
    dense_label = "float32, dense" + (f" ({dense} params)" if dense else "")
    axp.scatter([0.0], [float_acc], marker="o", s=50, color="0.3", zorder=3, label=dense_label)
    markers = iter(("P", "X", "h", "d", "8", "p"))
    for r in (r for r in result["rows"] if r["method"].startswith("prune")):
        marker, color = next(markers, "o"), next(colors, "0.3")
        axp.scatter([r["sparsity"]], [r["accuracy"]], marker=marker, s=90, color=color,
                    label=f"{r['method']} ({r['params']} params)", **edge)  # fmt: skip
        if r["accuracy"] < lo:
            off_scale.append((axp, r["sparsity"], r["accuracy"], color, r["method"]))
    axp.set_xlim(-0.05, 1.0)
    axp.xaxis.set_major_formatter(PercentFormatter(xmax=1, decimals=0))
    axp.set_xlabel("sparsity (fraction of the float model's weights zero or removed)")
    axp.set_title("pruning, each fine-tuned")

    _mark_off_scale(off_scale, lo)
    axq.legend(fontsize=8, loc="lower right")
    axp.legend(fontsize=8, loc="best")
    seed = result.get("seed", "?")
    fig.suptitle(f"refquant demo: MLP on the {result.get('dataset', 'digits')} test set, seed {seed}")
    fig.savefig(path, dpi=dpi)


def _limits(accs: Sequence[float], float_acc: float) -> tuple[float, float]:
    """Y limits that show every accuracy within :data:`OFF_SCALE` of float, with a margin."""
    shown = [a for a in accs if a >= float_acc - OFF_SCALE]
    lo, hi = min(shown), max(shown)
    pad = max(0.004, 0.08 * (hi - lo))
    bottom = lo - pad * (3 if len(shown) < len(accs) else 1)  # room for the off-scale marks
    return max(0.0, bottom), min(1.0 + pad, hi + pad)


def _mark_off_scale(points: list[tuple[Any, float, float, str, str]], lo: float) -> None:
    """Draw each point below ``lo`` as a triangle on the lower edge, with its value beside it."""
    by_axis: dict[int, list[tuple[Any, float, float, str, str]]] = {}
    for p in points:
        by_axis.setdefault(id(p[0]), []).append(p)
    for group in by_axis.values():
        ax = group[0][0]
        for _, x, _, color, _ in group:
            ax.scatter([x], [lo], marker="v", s=70, color=color, edgecolor="black", linewidth=0.5,
                       clip_on=False, zorder=5)  # fmt: skip
        lines = [f"{what} {a:.1%}" for _, _, a, _, what in sorted(group, key=lambda p: p[1])]
        text = "below the axis:\n" + "\n".join(lines)
        x0 = max(x for _, x, _, _, _ in group)
        ax.annotate(
            text,
            (x0, lo),
            xytext=(8, 4),
            textcoords="offset points",
            fontsize=8,
            va="bottom",
            bbox={"boxstyle": "round", "facecolor": "white", "edgecolor": "0.7"},
        )


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_bits(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 64


_CHECKS: dict[str, Callable[[object], bool]] = {
    "method": lambda v: isinstance(v, str),
    "weight_bits": lambda v: v is None or _is_bits(v),
    "activation_bits": lambda v: v is None or _is_bits(v),
    "sparsity": lambda v: _is_number(v) and 0 <= v <= 1,  # type: ignore[operator]
    "params": lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
    "accuracy": lambda v: _is_number(v) and 0 <= v <= 1,  # type: ignore[operator]
}
