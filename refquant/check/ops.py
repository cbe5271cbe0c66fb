"""The ops that ``refquant check`` and ``refquant vectors`` know, as data: name -> function and arguments.

Each :class:`CheckOp` of :data:`OPS` names one refquant function (a core one,
``quantize`` or ``floats.cast``, or the mirror of another system's op,
``onnx.quantize_linear`` or ``torch.fake_quantize_per_channel_affine``) and
says how a *case*, the arrays of one ``.npz`` file, maps onto it: its
arguments (:class:`OpArg`: key, array or scalar, accepted dtypes, optional or
not), its output kind (``"quantized"`` codes compared in LSB, or ``"float"``
compared in ULP), its diagnosis (always against refquant's reference
semantics, the spec's defaults), and a generator of tie-dense inputs.

A case holds the op's arguments under their names and the implementation's
output under ``actual``; it may hold ``expected`` too (what ``refquant
vectors`` writes; refquant recomputes it and notes when it differs). Any
other key, a missing argument, a wrong dtype or shape, or a value refquant
rejects is a :class:`CaseError`. :func:`check_case` is ``refquant check``
after the file is read; :func:`make_case` one case of ``refquant vectors``.

The functions of ``refquant.interop`` are named by dotted path and imported
on first call: :mod:`refquant.check` sits below :mod:`refquant.interop` in the
floors (``docs/architecture.md``) and imports nothing from it at import time.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal, NamedTuple

import numpy as np
from numpy.typing import NDArray

from refquant.check.compare import Comparison, compare
from refquant.check.diagnose import diagnose_quantize
from refquant.check.diagnose_cast import diagnose_cast
from refquant.check.diagnosis import Diagnosis
from refquant.check.inputs import awkward_scales, cast_inputs, quantize_inputs
from refquant.floats import FLOAT_FORMATS
from refquant.formats import INT_FORMATS

__all__ = ["OPS", "CaseError", "CaseResult", "CheckOp", "OpArg", "check_case", "get_op", "make_case"]

ArgKind = Literal["array", "int", "float", "bool", "str"]
OutputKind = Literal["quantized", "float"]
Arrays = Mapping[str, Any]

FLOATS = ("float16", "float32", "float64")
INTS = ("int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64")
_ONNX_ZP = ("uint8", "int8", "uint16", "int16")
_SCALAR_KINDS = {"int": "iu", "float": "fiu", "bool": "b", "str": "U"}
_RESERVED = ("actual", "expected")


class CaseError(ValueError):
    """A case that cannot be checked: a missing or unknown key, a wrong dtype or shape, a rejected value."""


@dataclass(frozen=True)
class OpArg:
    """One argument of a :class:`CheckOp`: its key in a case, kind, accepted dtypes, whether required.

    ``kind`` is ``"array"`` (passed on with its own dtype, which may matter:
    ONNX's ``y_zero_point`` sets the output type; ``dtypes`` lists the
    accepted dtype names) or a scalar, ``"int"``, ``"float"``, ``"bool"`` or
    ``"str"`` (a 0-d or one-element array of that kind, passed as a Python
    value; ``choices`` lists a string's accepted values). An argument that is
    not ``required`` may be left out; the function's default applies.
    """

    name: str
    kind: ArgKind
    dtypes: tuple[str, ...] = ()
    required: bool = True
    choices: tuple[str, ...] = ()

    def describe(self) -> str:
        """``x: float array``, ``input: float32 array``, ``[axis: int]`` (square brackets: optional)."""
        if self.kind == "array":
            what = {FLOATS: "float", INTS: "integer"}.get(self.dtypes, "|".join(self.dtypes)) + " array"
        elif self.choices:
            what = "|".join(repr(c) for c in self.choices)
        else:
            what = self.kind
        text = f"{self.name}: {what}"
        return text if self.required else f"[{text}]"


@dataclass(frozen=True)
class CheckOp:
    """One checkable op: its refquant function, arguments, output kind, diagnosis and test vectors.

    ``name`` is the command line's (``"onnx.quantize_linear"``), ``target``
    the function's ``"module:function"``; ``output`` ``"quantized"`` (codes,
    compared in LSB) or ``"float"`` (compared in ULP of the output dtype, or
    of the format named by the argument ``fmt_arg``); ``generate(rng)`` draws
    one case's inputs; ``diagnosis(arguments, actual)`` says why ``actual``
    differs from refquant's reference semantics (None: the op has none);
    ``quantizer(arguments)`` maps an affine op's arguments to ``x``,
    ``scale``, ``zero_point``, ``quant_min``, ``quant_max``, ``axis`` and
    ``block_size`` of :func:`refquant.quantize.quantize` (None: not affine).
    """

    name: str
    target: str
    summary: str
    args: tuple[OpArg, ...]
    output: OutputKind
    generate: Callable[[np.random.Generator], dict[str, NDArray[Any]]]
    diagnosis: Callable[[Mapping[str, Any], NDArray[Any]], Diagnosis] | None = None
    quantizer: Callable[[Mapping[str, Any]], dict[str, Any]] | None = None
    fmt_arg: str | None = None

    def function(self) -> Callable[..., Any]:
        """The refquant function (imported on first use)."""
        module, _, name = self.target.partition(":")
        fn: Callable[..., Any] = getattr(importlib.import_module(module), name)
        return fn

    def usage(self) -> str:
        """The arguments in one line, ``x: float32 array, ..., [axis: int]``."""
        return ", ".join(a.describe() for a in self.args)

    def arguments(self, arrays: Arrays) -> dict[str, Any]:
        """The keyword arguments of the function from a case's arrays; raises :class:`CaseError`."""
        _check_keys(self, arrays)
        out: dict[str, Any] = {}
        for a in self.args:
            if a.name in arrays:
                out[a.name] = _argument(self, a, arrays[a.name])
        return out

    def expected(self, arguments: Mapping[str, Any]) -> NDArray[Any]:
        """refquant's output on ``arguments``; a value the function rejects is a :class:`CaseError`."""
        try:
            with np.errstate(all="ignore"):
                return np.asarray(self.function()(**arguments))
        except (ValueError, TypeError, ArithmeticError) as exc:  # AxisError is a ValueError
            raise CaseError(f"refquant's {self.name} rejects the inputs: {exc}") from None


class CaseResult(NamedTuple):
    """What :func:`check_case` found: the comparison, and the diagnosis when the output differs."""

    op: str
    expected: NDArray[Any]
    comparison: Comparison
    diagnosis: Diagnosis | None
    notes: tuple[str, ...]

    @property
    def identical(self) -> bool:
        """Whether ``actual`` equals refquant's output element for element."""
        return bool(self.comparison.identical)


def get_op(name: str) -> CheckOp:
    """The :class:`CheckOp` named ``name``; an unknown name raises ``ValueError`` naming close ones.

    Parameters
    ----------
    name : str
        A key of :data:`OPS`, e.g. ``"quantize"`` or ``"onnx.quantize_linear"``.

    Returns
    -------
    CheckOp

    Examples
    --------
    >>> get_op("onnx.quantize_linear").target
    'refquant.interop.onnx:quantize_linear'
    >>> get_op("cast")
    Traceback (most recent call last):
    ...
    ValueError: unknown op 'cast'; did you mean 'floats.cast'? (refquant check --list lists the ops)
    """
    if isinstance(name, str) and name in OPS:
        return OPS[name]
    if not isinstance(name, str):
        raise TypeError(f"name must be a str naming an op, got {name!r}")
    exact = [k for k in OPS if name.lower() in (k.lower(), k.split(".")[-1].lower())]
    close = list(dict.fromkeys(exact + difflib.get_close_matches(name, list(OPS), n=3, cutoff=0.6)))[:3]
    names = [repr(c) for c in close]
    hint = f"; did you mean {' or '.join([', '.join(names[:-1]), names[-1]] if names[:-1] else names)}?"
    hint = hint if names else ""
    raise ValueError(f"unknown op {name!r}{hint} (refquant check --list lists the ops)")


def check_case(op: str | CheckOp, arrays: Arrays) -> CaseResult:
    """Check a case: validate it, recompute refquant's output, compare, and diagnose when they differ.

    Parameters
    ----------
    op : str or CheckOp
        The op (a name of :data:`OPS`).
    arrays : mapping of str to ndarray
        The case: the op's arguments under their names, the implementation's
        output under ``actual``, optionally ``expected`` (ignored but for a note).

    Returns
    -------
    CaseResult
        ``comparison`` (:func:`~refquant.check.compare.compare` of ``actual``
        against refquant's output), ``diagnosis`` (None when identical or the
        op has none), ``notes`` (sentences: a stale ``expected``, ...).

    Notes
    -----
    Raises :class:`CaseError` for a key missing or unknown, a wrong dtype or
    shape, a value refquant rejects. ``actual`` must have the shape of
    refquant's output: integer codes for a quantizer (of any integer dtype),
    floats otherwise. The diagnosis compares with the reference semantics:
    for another system's op it names that system's settings too.

    Examples
    --------
    >>> case = {"x": np.float32([0.5, 1.5, 2.5]), "scale": np.float32(1.0), "zero_point": np.int32(0),
    ...         "quant_min": np.int32(-128), "quant_max": np.int32(127), "actual": np.int8([0, 2, 2])}
    >>> check_case("quantize", case).identical
    True
    """
    spec = op if isinstance(op, CheckOp) else get_op(op)
    if not isinstance(arrays, Mapping):
        raise TypeError(f"arrays must be a mapping of names to arrays, got {type(arrays).__name__}")
    kwargs = spec.arguments(arrays)
    actual = _actual(spec, arrays["actual"])
    expected = spec.expected(kwargs)
    if actual.shape != expected.shape:
        raise CaseError(
            f"'actual' has shape {actual.shape}, refquant's {spec.name} output has shape {expected.shape}"
        )
    notes = _stale_expected(arrays, expected)
    fmt = kwargs.get(spec.fmt_arg) if spec.fmt_arg else None
    if spec.quantizer is not None:  # compare shows x / s and checks what the inputs can tell apart
        inputs = {k: v for k, v in spec.quantizer(kwargs).items() if v is not None}
    else:
        inputs = {k: v for k, v in kwargs.items() if np.shape(v) == expected.shape}
    try:
        comparison = compare(actual, expected, kind=spec.output, inputs=inputs, fmt=fmt, check_coverage=False)
    except ValueError as exc:  # values off the format's grid: count in ULP of their own dtype
        if fmt is None:
            raise CaseError(f"cannot compare 'actual': {exc}") from None
        notes += (f"Compared in ULP of the dtypes, not of {fmt}: {exc}.",)
        comparison = compare(actual, expected, kind=spec.output, inputs=inputs, check_coverage=False)
    diagnosis = None
    if not comparison.identical and spec.diagnosis is not None:
        try:
            with np.errstate(all="ignore"):
                diagnosis = spec.diagnosis(kwargs, actual)
        except (ValueError, TypeError, ArithmeticError) as exc:
            notes += (f"No diagnosis: {exc}",)
    if diagnosis is not None and diagnosis.matches_reference:
        notes += (f"'actual' is refquant's reference ({diagnosis.op} with its defaults: the spec), "
                  f"from which {spec.name} departs on these inputs.",)  # fmt: skip
    return CaseResult(spec.name, expected, comparison, diagnosis, notes)


def make_case(op: str | CheckOp, rng: np.random.Generator) -> dict[str, NDArray[Any]]:
    """One case of tie-dense test vectors: the op's inputs and refquant's output under ``expected``.

    Parameters
    ----------
    op : str or CheckOp
        The op (a name of :data:`OPS`).
    rng : numpy.random.Generator
        The only source of randomness: the same generator state gives the same case.

    Returns
    -------
    dict of str to ndarray
        The arguments under their names (scalars as 0-d arrays, strings as 0-d
        ``str`` arrays), then ``expected``. Add the implementation's output
        under ``actual`` and :func:`check_case` checks it.

    Examples
    --------
    >>> case = make_case("quantize", np.random.default_rng(0))
    >>> sorted(case), case["x"].dtype.name, case["expected"].dtype.name
    (['expected', 'quant_max', 'quant_min', 'scale', 'x', 'zero_point'], 'float32', 'int8')
    """
    spec = op if isinstance(op, CheckOp) else get_op(op)
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    case = spec.generate(rng)
    case["expected"] = spec.expected(spec.arguments({**case, "actual": np.zeros(0)}))
    return case


# --------------------------------------------------------------------------- validation


def _check_keys(op: CheckOp, arrays: Arrays) -> None:
    names = [a.name for a in op.args]
    required = [a.name for a in op.args if a.required] + ["actual"]
    missing = [k for k in required if k not in arrays]
    unknown = sorted(str(k) for k in arrays if k not in names and k not in _RESERVED)
    if missing or unknown:
        parts = []
        if missing:
            parts.append("missing " + ", ".join(repr(k) for k in missing))
        if unknown:
            parts.append("unknown key" + ("s " if len(unknown) > 1 else " ") + ", ".join(map(repr, unknown)))
        usage = f"op {op.name} takes {op.usage()}, and the implementation's output under 'actual'"
        raise CaseError(f"{'; '.join(parts)}: {usage}")


def _array(key: str, value: Any) -> NDArray[Any]:
    value = np.asarray(value) if isinstance(value, np.generic) else value
    if not isinstance(value, np.ndarray):
        raise CaseError(f"{key!r} is not an array (a member of the npz that is not a .npy file?)")
    if value.dtype.kind in "OV" or value.dtype.hasobject:
        raise CaseError(f"{key!r} has dtype {value.dtype}, which holds no numbers")
    return value


def _argument(op: CheckOp, a: OpArg, value: Any) -> Any:
    arr = _array(a.name, value)
    if a.kind == "array":
        if arr.dtype.name not in a.dtypes:
            raise CaseError(f"{a.name!r} has dtype {arr.dtype}; op {op.name} takes {'|'.join(a.dtypes)}")
        return arr
    if arr.ndim > 1 or arr.size != 1:
        raise CaseError(f"{a.name!r} must be one {a.kind} (a 0-d array), got shape {arr.shape}")
    if arr.dtype.kind not in _SCALAR_KINDS[a.kind]:
        raise CaseError(f"{a.name!r} must be a {a.kind}, got dtype {arr.dtype}")
    item = arr.reshape(()).item()
    if a.kind == "str" and a.choices and item not in a.choices:
        raise CaseError(f"{a.name!r} must be one of {', '.join(map(repr, a.choices))}, got {item!r}")
    return {"int": int, "float": float, "bool": bool, "str": str}[a.kind](item)


def _actual(op: CheckOp, value: Any) -> NDArray[Any]:
    arr = _array("actual", value)
    kinds, what = ("iu", "integer codes") if op.output == "quantized" else ("f", "floats")
    if arr.dtype.kind not in kinds:
        raise CaseError(f"'actual' has dtype {arr.dtype}; op {op.name} returns {what}")
    return arr


def _stale_expected(arrays: Arrays, expected: NDArray[Any]) -> tuple[str, ...]:
    if "expected" not in arrays:
        return ()
    given = _array("expected", arrays["expected"])
    if given.shape == expected.shape and np.array_equal(given, expected, equal_nan=given.dtype.kind == "f"):
        return ()
    return ("The case's 'expected' differs from refquant's output here; refquant's is used.",)


# --------------------------------------------------------------------------- diagnoses


def _quantizer_args(keys: tuple[str, str, str], family: str) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    """An affine op's arguments as :func:`refquant.quantize.quantize`'s (``family``: core, onnx, torch)."""
    x, s, z = keys

    def args(a: Mapping[str, Any]) -> dict[str, Any]:
        scale = np.asarray(a[s], np.float32) if family == "torch" else a[s]  # torch rounds scales to float32
        zp = a[z] if z in a else np.zeros(np.shape(scale), np.int64)
        if "quant_min" in a:
            qmin, qmax = a["quant_min"], a["quant_max"]
        elif family == "torch":
            qmin, qmax = _RANGES[a["dtype"]]
        else:  # ONNX: the output type, else the zero point's dtype, else uint8
            f = INT_FORMATS[a.get("output_dtype") or (zp.dtype.name if z in a else "uint8")]
            qmin, qmax = f.qmin, f.qmax
        axis = a.get("axis", 1 if family == "onnx" else None)
        if family == "onnx" and np.size(scale) == 1 and np.ndim(scale) <= 1:
            axis = None  # ONNX's axis is ignored per tensor
        out = {"x": a[x], "scale": scale, "zero_point": zp, "quant_min": qmin, "quant_max": qmax}
        return {**out, "axis": axis, "block_size": a.get("block_size") or None}

    return args


def _affine_diagnosis(
    quantizer: Callable[[Mapping[str, Any]], dict[str, Any]], dequantized: bool
) -> Callable[[Mapping[str, Any], NDArray[Any]], Diagnosis]:
    def run(a: Mapping[str, Any], actual: NDArray[Any]) -> Diagnosis:
        q = quantizer(a)
        return diagnose_quantize(
            q["x"], actual, q["scale"], q["zero_point"], q["quant_min"], q["quant_max"],
            axis=q["axis"], block_size=q["block_size"], dequantized=dequantized,
        )  # fmt: skip

    return run


# --------------------------------------------------------------------------- test vectors
#
# Every case draws its parameters from ``rng``: a float32 scale among refquant.check.inputs'
# awkward_scales (exact powers of two, and scales whose float32 reciprocal is inexact, where x / s
# and x * (1/s) part), a zero point (0, quant_min, quant_max or any code: _draw), then the inputs of
# quantize_inputs (every exact tie of the code range, one ulp around them, the clamp edges, the
# float below 0.5, signed zeros, subnormals, huge values, random fill; no NaN, which the core
# quantizers reject by default). The core quantizers use the int8 range [-128, 127] and
# per-tensor parameters, the shape of a plain C int8 kernel; the per-channel ops use 4 channels
# along axis 0 (TF: the last axis); integer scalars are stored as int32.

_N = 2048
_CHANNELS = 4
_RANGES = {"int8": (-128, 127), "uint8": (0, 255), "qint8": (-128, 127), "quint8": (0, 255),
           "qint32": (-(2**31), 2**31 - 1)}  # fmt: skip
_CAST_FORMATS = ("float8_e4m3fn", "float8_e5m2", "bfloat16", "float16", "float4_e2m1fn", "float6_e3m2fn")


def _i32(v: Any) -> NDArray[np.int32]:
    return np.array(v, np.int32)


def _draw(rng: np.random.Generator, qmin: int, qmax: int, k: int) -> tuple[NDArray[np.float32], list[int]]:
    """``k`` scales and zero points: 0 a quarter of the time, an end of the range an eighth each, else any."""
    scales = awkward_scales(rng=rng, count=8, dtype=np.float32)
    edges = [0 if qmin <= 0 <= qmax else qmin, 0 if qmin <= 0 <= qmax else qmax, qmin, qmax]
    zps = [int(rng.choice(edges) if rng.random() < 0.5 else rng.integers(qmin, qmax + 1)) for _ in range(k)]
    return rng.choice(scales, k).astype(np.float32), zps


def _quantizer_case(
    x: str, s: str, z: str, *, types: tuple[str, ...], tail: str, channels: int = 1
) -> Callable[[np.random.Generator], dict[str, NDArray[Any]]]:
    """Cases of a quantizer; ``tail``: "range" adds quant_min/quant_max, "dtype" torch's dtype, "" nothing
    (ONNX: the zero point's dtype is the output type). ``channels > 1``: per channel along axis 0."""

    def generate(rng: np.random.Generator) -> dict[str, NDArray[Any]]:
        t = types[rng.integers(len(types))]
        qmin, qmax = _RANGES[t]
        sc, zc = _draw(rng, qmin, qmax, channels)
        per = channels > 1
        xs = quantize_inputs(
            sc if per else sc[0], zc if per else zc[0], qmin, qmax, rng=rng, axis=0 if per else None
        )
        case = {x: xs, s: sc if per else sc[0].reshape(())}
        case[z] = np.array(zc if per else zc[0], t if not tail else np.int32)
        if per:
            case["axis"] = _i32(0)
        if tail == "range":
            case.update(quant_min=_i32(qmin), quant_max=_i32(qmax))
        elif tail == "dtype":
            case["dtype"] = np.array(t)
        return case

    return generate


def _codes(rng: np.random.Generator, dtype: Any) -> NDArray[Any]:
    info = np.iinfo(dtype)
    every = np.arange(info.min, info.max + 1)
    return np.concatenate([every, rng.integers(info.min, info.max + 1, _N - every.size)]).astype(dtype)


def _codes_case(
    names: tuple[str, str, str], onnx: bool
) -> Callable[[np.random.Generator], dict[str, NDArray[Any]]]:
    def generate(rng: np.random.Generator) -> dict[str, NDArray[Any]]:
        dtype = np.dtype(np.uint8 if onnx and rng.random() < 0.5 else np.int8)
        info = np.iinfo(dtype)
        sc, zc = _draw(rng, int(info.min), int(info.max), 1)
        zp = np.array(zc[0], dtype) if onnx else _i32(zc[0])
        return {names[0]: _codes(rng, dtype), names[1]: sc[0].reshape(()), names[2]: zp}

    return generate


def _cast_case(rng: np.random.Generator) -> dict[str, NDArray[Any]]:
    fmt = _CAST_FORMATS[rng.integers(len(_CAST_FORMATS))]
    x = cast_inputs(fmt, rng=rng, count=_N, dtype=np.float32)
    return {"x": x, "fmt": np.array(fmt), "saturate": np.array(bool(rng.random() < 0.5))}


def _tf_case(*, per_channel: bool) -> Callable[[np.random.Generator], dict[str, NDArray[Any]]]:
    def generate(rng: np.random.Generator) -> dict[str, NDArray[Any]]:
        narrow = bool(rng.random() < 0.5)
        qmin, qmax = int(narrow), 255
        k = _CHANNELS if per_channel else 1
        lo = -rng.choice([0.0, 1.0, 2.5, 6.0], k).astype(np.float32)
        hi = rng.choice([0.5, 1.0, 3.0, 6.0], k).astype(np.float32)
        s = ((hi - lo) / np.float32(qmax - qmin)).astype(np.float32)  # ties of the nudged grid
        z = np.clip(np.rint(qmin - lo / s), qmin, qmax).astype(np.int64)
        tail = {"num_bits": _i32(8), "narrow_range": np.array(narrow)}
        if per_channel:
            x = quantize_inputs(s, z, qmin, qmax, rng=rng, axis=-1)
            return {"inputs": x, "min": lo, "max": hi, **tail}
        x = quantize_inputs(s[0], z[0], qmin, qmax, rng=rng)
        return {"inputs": x, "min": lo[0].reshape(()), "max": hi[0].reshape(()), **tail}

    return generate


# --------------------------------------------------------------------------- the registry


_GROUPS: dict[str, tuple[str, ...]] = {
    "floats": FLOATS, "float32": ("float32",), "ints": INTS, "formats": tuple(FLOAT_FORMATS),
    "onnx_zp": _ONNX_ZP, "onnx_codes": ("uint8", "int8", "uint16", "int16", "int32"),
    "onnx_types": ("uint8", "int8", "uint16", "int16", "uint4", "int4", "uint2", "int2"),
    "torch_dtypes": ("quint8", "qint8", "qint32"),
    "rounding": ("half_even", "half_away", "half_up", "floor", "ceil", "trunc"),
}  # fmt: skip


def _args(text: str) -> tuple[OpArg, ...]:
    """``"x:floats[] fmt:str=formats ?axis:int"``: ``[]`` an array of a dtype group, ``=`` choices,
    ``?`` optional."""
    out = []
    for word in text.split():
        name, _, kind = word.lstrip("?").partition(":")
        kind, _, group = kind.partition("=")
        if kind.endswith("[]"):
            out.append(OpArg(name, "array", _GROUPS[kind[:-2]], not word.startswith("?")))
        else:
            choices = _GROUPS.get(group, ())
            out.append(OpArg(name, kind, (), not word.startswith("?"), choices))  # type: ignore[arg-type]
    return tuple(out)


_QUANTIZE = (
    "x:floats[] scale:floats[] zero_point:ints[] quant_min:int quant_max:int ?axis:int ?block_size:int"
)
_TF = "?num_bits:int ?narrow_range:bool"
_TQ = ("quint8", "qint8")


def _affine(
    name: str, target: str, summary: str, args: str, output: OutputKind, keys: str, family: str, **draw: Any
) -> CheckOp:
    """A quantizer (or fake-quantizer): its generator and diagnosis follow from its keys and family."""
    x, s, z = keys.split()
    q = _quantizer_args((x, s, z), family)
    generate, diagnosis = _quantizer_case(x, s, z, **draw), _affine_diagnosis(q, output == "float")
    return CheckOp(name, target, summary, _args(args), output, generate, diagnosis, q)


def _registry() -> dict[str, CheckOp]:
    torch, tf, i8 = "refquant.interop.torch:", "refquant.interop.tf:fake_quant_with_min_max_", ("int8",)
    ops = [
        _affine("quantize", "refquant.quantize:quantize", "codes clip(R(x / s) + z), R half to even",
            _QUANTIZE, "quantized", "x scale zero_point", "core", types=i8, tail="range"),
        _affine("fake_quantize", "refquant.quantize:fake_quantize", "(clip(R(x / s) + z) - z) * s",
            _QUANTIZE, "float", "x scale zero_point", "core", types=i8, tail="range"),
        CheckOp("dequantize", "refquant.quantize:dequantize", "(q - z) * s",
            _args("q:ints[] scale:floats[] zero_point:ints[] ?axis:int ?block_size:int ?dtype:str=floats"),
            "float", _codes_case(("q", "scale", "zero_point"), onnx=False)),
        CheckOp("floats.cast", "refquant.floats:cast", "round x onto a float format's grid (half to even)",
            _args("x:floats[] fmt:str=formats ?saturate:bool ?rounding:str=rounding"), "float", _cast_case,
            lambda a, actual: diagnose_cast(a["x"], actual, a["fmt"]), fmt_arg="fmt"),
        _affine("onnx.quantize_linear", "refquant.interop.onnx:quantize_linear",
            "ONNX QuantizeLinear, integer types: saturate(round_half_even(x / y_scale) + y_zero_point)",
            "x:floats[] y_scale:floats[] ?y_zero_point:onnx_zp[] ?axis:int ?block_size:int"
            " ?output_dtype:str=onnx_types", "quantized", "x y_scale y_zero_point", "onnx",
            types=("uint8", "int8"), tail=""),
        CheckOp("onnx.dequantize_linear", "refquant.interop.onnx:dequantize_linear",
            "ONNX DequantizeLinear, integer types: (x - x_zero_point) * x_scale",
            _args("x:onnx_codes[] x_scale:floats[] ?x_zero_point:onnx_zp[] ?axis:int ?block_size:int"),
            "float", _codes_case(("x", "x_scale", "x_zero_point"), onnx=True)),
        _affine("torch.fake_quantize_per_tensor_affine", torch + "fake_quantize_per_tensor_affine",
            "torch.fake_quantize_per_tensor_affine: x * (1/s) in float32",
            "input:float32[] scale:float zero_point:int quant_min:int quant_max:int", "float",
            "input scale zero_point", "torch", types=_TQ, tail="range"),
        _affine("torch.fake_quantize_per_channel_affine", torch + "fake_quantize_per_channel_affine",
            "torch.fake_quantize_per_channel_affine: x * (1/s_c) in float32",
            "input:float32[] scale:floats[] zero_point:ints[] axis:int quant_min:int quant_max:int", "float",
            "input scale zero_point", "torch", types=_TQ, tail="range", channels=_CHANNELS),
        _affine("torch.quantize_per_tensor", torch + "quantize_per_tensor",
            "torch.quantize_per_tensor(...).int_repr(): round(fma(x, 1/s, z))",
            "input:float32[] scale:float zero_point:int dtype:str=torch_dtypes", "quantized",
            "input scale zero_point", "torch", types=_TQ, tail="dtype"),
        _affine("torch.quantize_per_channel", torch + "quantize_per_channel",
            "torch.quantize_per_channel(...).int_repr(): z added before rounding",
            "input:float32[] scales:floats[] zero_points:ints[] axis:int dtype:str=torch_dtypes", "quantized",
            "input scales zero_points", "torch", types=_TQ, tail="dtype", channels=_CHANNELS),
        CheckOp("tf.fake_quant_with_min_max_args", tf + "args",
            "tf.quantization.fake_quant_with_min_max_args: nudged range, floor(y + 0.5)",
            _args("inputs:floats[] ?min:float ?max:float " + _TF), "float", _tf_case(per_channel=False)),
        CheckOp("tf.fake_quant_with_min_max_vars", tf + "vars",
            "tf.quantization.fake_quant_with_min_max_vars: nudged range, floor(y + 0.5)",
            _args("inputs:floats[] min:float max:float " + _TF), "float", _tf_case(per_channel=False)),
        CheckOp("tf.fake_quant_with_min_max_vars_per_channel", tf + "vars_per_channel",
            "tf.quantization.fake_quant_with_min_max_vars_per_channel: channels on the last axis",
            _args("inputs:floats[] min:floats[] max:floats[] " + _TF), "float", _tf_case(per_channel=True)),
    ]  # fmt: skip
    return {o.name: o for o in ops}


OPS: Mapping[str, CheckOp] = MappingProxyType(_registry())
"""The checkable ops by name (``refquant check --list`` prints them with their arguments)."""
