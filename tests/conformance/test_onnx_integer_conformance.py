"""refquant.interop.onnx_integer against the real onnx (backend node vectors, onnx.reference) and onnxruntime.

1. The ONNX backend node vectors of MatMulInteger and QLinearMatMul, bit for bit,
   in every requantization semantics (they all agree on them).
2. ONNX Runtime (CPU), one-node models, random and tie-dense int8/uint8 inputs:
   bit-identical with ``requantize="onnxruntime"``; every difference from the
   spec's exact arithmetic is attributed to the first of three roundings that
   changes the code (the float32 multiplier, ``float32(acc)``, the float32
   product), each recomputed here with :class:`fractions.Fraction`, and counted.
   The same for QGemm (``com.microsoft``), quantized and float32 outputs.
3. onnx.reference's evaluator: bit-identical with ``requantize="onnx_reference"``,
   the differences from the spec attributed (multiplier; float64 product), and
   its departure on 1-D per-row zero points.

The tie-dense inputs put one near-tie per column: ``b_scale[n]`` is chosen so
that ``acc[r, n] * a_scale * b_scale[n] / y_scale`` is within a float32 ulp of a
half for one row ``r`` (and the scales' own roundings move it either way), with
large accumulators (``|acc| > 2**24``) in some cases.
"""

from __future__ import annotations

import warnings
from collections import Counter
from fractions import Fraction
from typing import Any

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

from refquant.interop.onnx_integer import matmul_integer, qgemm, qlinear_matmul  # noqa: E402
from tests.conformance.tie_inputs import awkward_scales  # noqa: E402

F32, U8, I8 = np.float32, np.uint8, np.int8
RANGE = {np.dtype(U8): (0, 255), np.dtype(I8): (-128, 127)}
ONNX_TYPE = {np.dtype(U8): TensorProto.UINT8, np.dtype(I8): TensorProto.INT8}
CAUSES: Counter[str] = Counter()  # the tally of differences from the spec by cause, for a debugging session


# ---------------------------------------------------------------- 1. backend node test vectors


def _backend_cases() -> list[Any]:
    from onnx.backend.test.loader import load_model_tests

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = load_model_tests(kind="node")
    return sorted(
        (c for c in cases if c.name.startswith(("test_matmulinteger", "test_qlinearmatmul"))), key=str
    )


BACKEND = _backend_cases()


def _through_proto(v: Any) -> np.ndarray:
    proto = numpy_helper.from_array(np.asarray(v))
    return numpy_helper.to_array(TensorProto.FromString(proto.SerializeToString()))


@pytest.mark.parametrize("case", BACKEND, ids=[c.name for c in BACKEND])
def test_backend_node_vectors(case: Any) -> None:
    ins, outs = case.data_sets[0]
    ins, expected = [_through_proto(v) for v in ins], _through_proto(outs[0])
    if case.name.startswith("test_matmulinteger"):
        got = [matmul_integer(*ins)]
    else:
        got = [qlinear_matmul(*ins, requantize=h) for h in ("spec", "onnx_reference", "onnxruntime")]
    for y in got:
        assert y.dtype == expected.dtype and y.shape == expected.shape
        np.testing.assert_array_equal(y, expected)


def test_backend_selection() -> None:
    assert len(BACKEND) == 9 and sum("float16" in c.name for c in BACKEND) == 4


# ---------------------------------------------------------------- models


@pytest.fixture(scope="module")
def ort() -> Any:
    return pytest.importorskip("onnxruntime")


def _info(name: str, v: np.ndarray) -> Any:
    return helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)


def one_node(op: str, feeds: dict[str, Any], out: int, consts: tuple[str, ...] = (), **attrs: Any) -> Any:
    """A one-node model; ``consts`` become initializers (ORT prepacks a constant B), the rest inputs."""
    names = [n if feeds[n] is not None else "" for n in feeds]
    while names and not names[-1]:  # trailing optional inputs left out
        names.pop()
    domain = "com.microsoft" if op == "QGemm" else ""
    node = helper.make_node(op, names, ["y"], domain=domain, **attrs)
    arrays = {n: np.asarray(v) for n, v in feeds.items() if v is not None}
    inputs = [_info(n, v) for n, v in arrays.items() if n not in consts]
    inits = [numpy_helper.from_array(v, n) for n, v in arrays.items() if n in consts]
    graph = helper.make_graph(
        [node], "g", inputs, [helper.make_tensor_value_info("y", out, None)], initializer=inits
    )
    opsets = [helper.make_opsetid("", 21)] + ([helper.make_opsetid("com.microsoft", 1)] if domain else [])
    return helper.make_model(graph, opset_imports=opsets, ir_version=10)


def run_ort(ort: Any, model: Any, feeds: dict[str, Any], consts: tuple[str, ...] = ()) -> np.ndarray:
    options = ort.SessionOptions()
    options.log_severity_level = 4  # the expected failures raise; no log lines
    sess = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return sess.run(None, {n: np.asarray(v) for n, v in feeds.items() if v is not None and n not in consts})[
        0
    ]


def run_reference(model: Any, feeds: dict[str, Any]) -> np.ndarray:
    return ReferenceEvaluator(model).run(None, {n: np.asarray(v) for n, v in feeds.items() if v is not None})[
        0
    ]


QLM = ("a", "a_scale", "a_zero_point", "b", "b_scale", "b_zero_point", "y_scale", "y_zero_point")


# ---------------------------------------------------------------- inputs


def scales(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` float32 scales drawn from refquant.check's awkward ones (inexact reciprocals, many binades)."""
    return rng.choice(awkward_scales(rng, 16), n).astype(F32)


def exact_acc(a: np.ndarray, b: np.ndarray, za: Any, zb: Any) -> np.ndarray:
    """int64 accumulators by NumPy's integer matmul (no BLAS), no overflow in these cases."""
    return np.matmul(
        a.astype(np.int64) - np.asarray(za, np.int64), b.astype(np.int64) - np.asarray(zb, np.int64)
    )


def make_case(
    rng: np.random.Generator,
    types: tuple[Any, Any, Any],
    shape: tuple[int, int, int],
    big: bool,
    alpha: float = 1.0,
    c: np.ndarray | None = None,
) -> dict:
    """QLinearMatMul feeds with one near-tie per column (per-column b_scale), optionally |acc| > 2**24;
    ``alpha`` and a bias ``c`` (QGemm) are taken into account for the ties."""
    ta, tb, ty = types
    (m, k, n), (la, ha), (lb, hb), (ly, hy) = (
        shape,
        RANGE[np.dtype(ta)],
        RANGE[np.dtype(tb)],
        RANGE[np.dtype(ty)],
    )
    if big:  # codes near one end, zero points at the other: |a - za|, |b - zb| near 255
        a = rng.integers(ha - 25, ha + 1, (m, k)).astype(ta)
        b = rng.integers(lb, lb + 26, (k, n)).astype(tb)
        za, zb = np.array(la, ta), np.array(hb, tb)  # a per-tensor zero point beside per-column scales
    else:
        a, b = rng.integers(la, ha + 1, (m, k)).astype(ta), rng.integers(lb, hb + 1, (k, n)).astype(tb)
        za, zb = np.array(rng.integers(la, ha + 1), ta), rng.integers(lb, hb + 1, n).astype(tb)
    acc = exact_acc(a, b, za, zb) + (0 if c is None else np.broadcast_to(c, (m, n)).astype(np.int64))
    sa, sy = scales(rng, 2)
    zy = np.array(rng.integers(ly, hy + 1), ty)
    rows = rng.integers(0, m, n)
    target = rng.integers(-60, 60, n) + 0.5  # a half, unsaturated for every zero point
    pick = np.where(acc[rows, np.arange(n)] == 0, 1, acc[rows, np.arange(n)])
    sb = np.abs(target * np.float64(sy) / (pick * np.float64(sa) * alpha)).astype(F32)
    nudge = rng.integers(-1, 2, n)  # the float32 nearest the tie, or one ulp either side
    sb = np.where(nudge == 0, sb, np.nextafter(sb, np.where(nudge > 0, F32(np.inf), F32(0)).astype(F32)))
    sb[sb == 0] = F32(1e-3)
    return dict(a=a, a_scale=F32(sa), a_zero_point=za, b=b, b_scale=sb, b_zero_point=zb, y_scale=F32(sy),
                y_zero_point=zy)  # fmt: skip


def _rne(x: Fraction) -> int:
    return round(x)  # Fraction rounding: half to even, exact


def attribute(
    f: dict[str, Any], got: np.ndarray, spec: np.ndarray, system: str, factors: tuple[Any, ...] = ()
) -> Counter[str]:
    """The spec's codes (by Fraction; asserted equal to refquant's ``spec``), then one rounding at a time
    towards ``system``'s, the last asserted equal to ``got``; each difference between the spec and
    ``got`` is charged to the first step that changed the code."""
    acc = exact_acc(f["a"], f["b"], f["a_zero_point"], np.reshape(f["b_zero_point"], (1, -1)))
    acc = acc + (0 if f.get("c") is None else np.broadcast_to(f["c"], acc.shape).astype(np.int64))
    lo, hi = RANGE[f["y_zero_point"].dtype]
    zy = int(np.asarray(f["y_zero_point"]).reshape(()))
    scales = [*(np.broadcast_to(s, acc.shape) for s in (*factors, f["a_scale"], f["b_scale"]))]
    sy = np.asarray(f["y_scale"]).reshape(())
    m32 = scales[0]
    for s in scales[1:]:
        m32 = m32 * s  # the kernels' float order: left to right, then / y_scale
    m32 = m32 / sy
    steps: list[list[int]] = [[], [], [], []]
    for idx in np.ndindex(acc.shape):
        n, m_exact = int(acc[idx]), Fraction(1)
        for s in scales:
            m_exact *= Fraction(float(s[idx]))
        m_exact /= Fraction(float(sy))
        mq = Fraction(float(m32[idx]))
        e = [_rne(n * m_exact), _rne(n * mq)]
        if system == "onnxruntime":
            a32 = F32(n)
            e += [_rne(Fraction(float(a32)) * mq), int(np.rint(a32 * m32[idx]))]
        else:  # onnx.reference: float64 product, the zero point added in float64, rint
            e += [e[-1], int(np.rint(np.float64(n) * np.float64(m32[idx]) + zy)) - zy]
        for i, v in enumerate(e):
            steps[i].append(min(hi, max(lo, v + zy)))
    codes = [np.array(s).reshape(acc.shape) for s in steps]
    np.testing.assert_array_equal(codes[0], spec)  # refquant's spec semantics is the exact one
    np.testing.assert_array_equal(codes[3], got)  # the emulated chain is the system's output
    names = ["multiplier", "float32(acc)" if system == "onnxruntime" else "-", f"{system} product"]
    out: Counter[str] = Counter()
    for idx in zip(*np.nonzero(codes[0] != got), strict=True):
        first = next(i for i in range(3) if codes[i + 1][idx] != codes[i][idx])
        out[f"{system}: {names[first]}"] += 1
    out[f"{system}: outputs"] += got.size
    return out


TYPES = [(U8, U8, U8), (U8, I8, U8), (I8, I8, I8)]


def _tid(types: tuple[Any, ...]) -> str:
    return "-".join(np.dtype(t).name for t in types)


# ---------------------------------------------------------------- 2. onnxruntime: QLinearMatMul


@pytest.mark.parametrize("types", TYPES, ids=_tid)
@pytest.mark.parametrize("big", [False, True], ids=["random", "big-acc"])
@pytest.mark.parametrize("const_b", [False, True], ids=["b-input", "b-initializer"])
def test_ort_qlinear_matmul_tie_dense(
    ort: Any, types: tuple[Any, Any, Any], big: bool, const_b: bool
) -> None:
    rng = np.random.default_rng(10 + 2 * big + const_b)
    counts: Counter[str] = Counter()
    for _ in range(6):
        f = make_case(rng, types, (16, 400 if big else int(rng.integers(1, 64)), 24), big)
        consts = ("b", "b_scale", "b_zero_point") if const_b else ()
        model = one_node("QLinearMatMul", f, ONNX_TYPE[np.dtype(types[2])], consts)
        got = run_ort(ort, model, f, consts)
        np.testing.assert_array_equal(qlinear_matmul(**f, requantize="onnxruntime"), got)
        counts += attribute(f, got, qlinear_matmul(**f), "onnxruntime")
    CAUSES.update({f"qlinear_matmul tie-dense {k}": v for k, v in counts.items()})
    assert counts["onnxruntime: multiplier"] > 0  # the near-ties do exercise the roundings
    if big:
        assert counts["onnxruntime: float32(acc)"] > 0


def test_ort_qlinear_matmul_random_batched_per_tensor(ort: Any) -> None:
    rng = np.random.default_rng(20)
    for ta, tb, ty in TYPES:
        (la, ha), (lb, hb) = RANGE[np.dtype(ta)], RANGE[np.dtype(tb)]
        a, b = (
            rng.integers(la, ha + 1, (2, 3, 7, 40)).astype(ta),
            rng.integers(lb, hb + 1, (3, 40, 5)).astype(tb),
        )
        f = dict(a=a, a_scale=F32(0.02), a_zero_point=np.array([ha // 2], ta), b=b,
                 b_scale=np.array([0.01], F32), b_zero_point=np.array([1], tb), y_scale=np.array([0.7], F32),
                 y_zero_point=np.array([3], ty))  # fmt: skip
        got = run_ort(ort, one_node("QLinearMatMul", f, ONNX_TYPE[np.dtype(ty)]), f)
        assert got.shape == (2, 3, 7, 5)
        np.testing.assert_array_equal(qlinear_matmul(**f, requantize="onnxruntime"), got)
        counts = attribute(f, got, qlinear_matmul(**f), "onnxruntime")
        CAUSES.update({f"qlinear_matmul random batched {k}": v for k, v in counts.items()})


def test_ort_matmul_integer_exact_and_wrapping(ort: Any) -> None:
    rng = np.random.default_rng(21)
    pairs = [(U8, U8), (U8, I8), (I8, I8), (I8, U8)]
    for ta, tb in pairs:
        (la, ha), (lb, hb) = RANGE[np.dtype(ta)], RANGE[np.dtype(tb)]
        for shape_a, shape_b in (((9, 33), (33, 7)), ((2, 4, 17), (17, 3)), ((1, 70000), (70000, 2))):
            a, b = rng.integers(la, ha + 1, shape_a).astype(ta), rng.integers(lb, hb + 1, shape_b).astype(tb)
            if shape_a[-1] == 70000:  # the int32 accumulator wraps
                a[:], b[:] = (ha if ta == U8 else la), lb if tb == I8 else hb
            zb = rng.integers(lb, hb + 1, shape_b[-1]).astype(tb)
            for consts in ((), ("b", "b_zero_point")):
                f = dict(a=a, b=b, a_zero_point=np.array(la if ta == U8 else 0, ta), b_zero_point=zb)
                got = run_ort(ort, one_node("MatMulInteger", f, TensorProto.INT32, consts), f, consts)
                np.testing.assert_array_equal(matmul_integer(**f), got)
                ref = run_reference(one_node("MatMulInteger", f, TensorProto.INT32), f)
                np.testing.assert_array_equal(matmul_integer(**f), ref)


def test_ort_rejects_per_row_a(ort: Any) -> None:
    """ORT departure: a per-row a_zero_point (spec: allowed) raises in MatMulInteger and QLinearMatMul."""
    a, b = np.array([[3, 4], [5, 6]], U8), np.array([[1, 2], [3, 4]], U8)
    f = dict(a=a, b=b, a_zero_point=np.array([[1], [2]], U8))
    with pytest.raises(Exception, match="zero point must be a scalar"):
        run_ort(ort, one_node("MatMulInteger", f, TensorProto.INT32), f)
    assert matmul_integer(**f).tolist() == [[11, 16], [15, 22]]  # [[2, 3], [3, 4]] @ b, by hand


def test_ort_float16_scales_are_cast_to_float32(ort: Any) -> None:
    """ORT runs float16 QLinearMatMul with the scales cast to float32 (the float kernel): its multiplier is
    float32's, where onnx.reference multiplies and divides in float16."""
    a, b = np.arange(256, dtype=U8).reshape(256, 1), np.arange(256, dtype=U8).reshape(1, 256)
    h = np.float16
    f = dict(a=a, a_scale=h(0.1), a_zero_point=U8(0), b=b, b_scale=h(0.3), b_zero_point=U8(0),
             y_scale=h(70.0), y_zero_point=U8(0))  # fmt: skip
    got = run_ort(ort, one_node("QLinearMatMul", f, TensorProto.UINT8), f)
    np.testing.assert_array_equal(qlinear_matmul(**f, requantize="onnxruntime"), got)
    ref = qlinear_matmul(**f, requantize="onnx_reference")
    np.testing.assert_array_equal(ref, run_reference(one_node("QLinearMatMul", f, TensorProto.UINT8), f))
    diff = int((ref != got).sum())
    CAUSES["float16 scales: onnx.reference (float16 multiplier) vs ORT (float32)"] += diff
    assert diff > 0


# ---------------------------------------------------------------- 2. onnxruntime: QGemm


@pytest.mark.parametrize("types", TYPES, ids=_tid)
@pytest.mark.parametrize("output", ["quantized", "float"])
def test_ort_qgemm(ort: Any, types: tuple[Any, Any, Any], output: str) -> None:
    rng = np.random.default_rng(30 + (output == "float"))
    counts: Counter[str] = Counter()
    float_ulps: Counter[int] = Counter()
    for trial in range(8):
        big = trial % 2 == 1
        alpha = float(F32(rng.choice([1.0, 0.75, -1.5, float(scales(rng, 1)[0])])))
        trans_a, trans_b = bool(trial & 2), bool(trial & 4)
        c = rng.integers(-(2**20), 2**20, [(16,), (12, 1), (12, 16), (1,)][trial % 4]).astype(np.int32)
        f = make_case(rng, types, (12, 400 if big else 40, 16), big, alpha, c)
        f["b_zero_point"] = np.broadcast_to(f["b_zero_point"], (16,)).copy()  # ORT's QGemm: one shape
        if output == "float":
            f["y_scale"] = f["y_zero_point"] = None
        g = dict(f, c=c, a=f["a"].T.copy() if trans_a else f["a"], b=f["b"].T.copy() if trans_b else f["b"])
        feeds = {k: g[k] for k in (*QLM[:6], "c", *QLM[6:])}
        out = TensorProto.FLOAT if output == "float" else ONNX_TYPE[np.dtype(types[2])]
        model = one_node("QGemm", feeds, out, alpha=alpha, transA=int(trans_a), transB=int(trans_b))
        got = run_ort(ort, model, feeds)
        kw = dict(alpha=alpha, trans_a=trans_a, trans_b=trans_b)
        ours = qgemm(**feeds, **kw, requantize="onnxruntime")
        if output == "float":  # bit patterns
            ours, got = ours.view(np.int32), got.view(np.int32)
        np.testing.assert_array_equal(ours, got)
        spec = qgemm(**feeds, **kw)
        if output == "quantized":
            counts += attribute(dict(f, c=c), got, spec, "onnxruntime", (np.float32(alpha),))
        else:
            counts += attribute_float(dict(f, c=c), got.view(F32), spec, np.float32(alpha))
            ulps = np.abs(spec.view(np.int32).astype(np.int64) - got.astype(np.int64))
            float_ulps.update(ulps.ravel().tolist())
    CAUSES.update({f"qgemm {output} {k}": v for k, v in counts.items()})
    CAUSES.update({f"qgemm float output: {k} ulp from the spec": v for k, v in float_ulps.items()})
    assert counts["onnxruntime: multiplier"] > 0
    if output == "float":
        assert max(float_ulps) <= 2 and counts["onnxruntime: float32(acc)"] > 0


def nearest_float32(x: Fraction) -> np.float32:
    """The float32 nearest ``x``, ties to the even bit pattern: the best of three candidates."""
    f = F32(float(x))
    cands = [np.nextafter(f, F32(-np.inf)), f, np.nextafter(f, F32(np.inf))]
    return min(cands, key=lambda v: (abs(Fraction(float(v)) - x), int(v.view(np.int32)) & 1))


def attribute_float(f: dict[str, Any], got: np.ndarray, spec: np.ndarray, alpha: np.float32) -> Counter[str]:
    """QGemm's float output: the exact value rounded once (spec), then with ORT's float32 multiplier
    ``fl(fl(alpha * a_scale) * b_scale)``, then with ``float32(acc + c)`` (ORT); the first that changes."""
    acc = exact_acc(f["a"], f["b"], f["a_zero_point"], np.reshape(f["b_zero_point"], (1, -1)))
    acc = acc + np.broadcast_to(f["c"], acc.shape).astype(np.int64)
    sb = np.broadcast_to(f["b_scale"], acc.shape)
    m32 = alpha * f["a_scale"] * sb
    out: Counter[str] = Counter()
    for idx in np.ndindex(acc.shape):
        n = int(acc[idx])
        exact = (
            Fraction(n) * Fraction(float(alpha)) * Fraction(float(f["a_scale"])) * Fraction(float(sb[idx]))
        )
        e = [nearest_float32(exact), nearest_float32(Fraction(n) * Fraction(float(m32[idx])))]
        e.append(nearest_float32(Fraction(float(F32(n))) * Fraction(float(m32[idx]))))
        assert e[0] == spec[idx] and e[2] == got[idx], (idx, e, spec[idx], got[idx])
        if e[0] != got[idx]:
            out["onnxruntime: " + ("multiplier" if e[1] != e[0] else "float32(acc)")] += 1
    out["onnxruntime: outputs"] += got.size
    return out


def test_ort_qgemm_zero_k_departs(ort: Any) -> None:
    """ORT departure: QGemm with K = 0 and a bias C (spec: Y = alpha * a_scale * b_scale * C). Float output:
    C's int32 bit patterns read as float32 (300 -> 4.2e-43, -5 -> NaN); quantized output: codes that change
    from run to run (uninitialized memory; spec: 255 and 0 below)."""
    a, b, c = np.zeros((2, 0), U8), np.zeros((0, 3), U8), np.array([[300], [-5]], np.int32)
    feeds = dict(a=a, a_scale=F32(0.5), a_zero_point=U8(0), b=b, b_scale=F32(0.5), b_zero_point=U8(0), c=c)
    got = run_ort(ort, one_node("QGemm", feeds, TensorProto.FLOAT, alpha=2.0), feeds)
    assert np.isnan(got[1]).all() and got[0, 0] == np.array(300, np.int32).view(F32)
    assert qgemm(**feeds, alpha=2.0).tolist() == [[150.0] * 3, [-2.5] * 3]  # 300 * 0.5, -5 * 0.5
    q = dict(feeds, y_scale=F32(0.1), y_zero_point=U8(10))
    spec = [[255] * 3, [0] * 3]  # 1500 + 10 and -25 + 10, saturated
    assert qgemm(**q, alpha=2.0).tolist() == spec
    model = one_node("QGemm", q, TensorProto.UINT8, alpha=2.0)
    assert any(run_ort(ort, model, q).tolist() != spec for _ in range(3))


def test_ort_qgemm_y_scale_without_zero_point(ort: Any) -> None:
    """ORT returns float32 ``Y / y_scale`` when y_scale is given without y_zero_point; refquant raises."""
    f = dict(a=np.array([[1, 2]], U8), a_scale=F32(0.5), a_zero_point=U8(0), b=np.array([[2], [3]], U8),
             b_scale=F32(0.5), b_zero_point=U8(0), c=np.array([4], np.int32), y_scale=F32(4))  # fmt: skip
    assert run_ort(ort, one_node("QGemm", f, TensorProto.FLOAT, alpha=2.0), f).tolist() == [[1.5]]  # 12*0.5/4
    with pytest.raises(ValueError, match="together"):
        qgemm(**f, alpha=2.0)


# ---------------------------------------------------------------- 3. onnx.reference


@pytest.mark.parametrize("types", [*TYPES, (I8, U8, U8), (U8, I8, I8)], ids=_tid)
def test_reference_qlinear_matmul(types: tuple[Any, Any, Any]) -> None:
    rng = np.random.default_rng(40)
    counts: Counter[str] = Counter()
    for trial in range(6):
        f = make_case(rng, types, (10, 400 if trial % 3 == 2 else 30, 12), trial % 3 == 2)
        if trial % 2:  # per-row a in the spec's N-D form (M, 1), which onnx.reference broadcasts correctly
            f["a_scale"] = scales(rng, 10).reshape(10, 1)
            f["a_zero_point"] = rng.integers(*RANGE[np.dtype(types[0])], (10, 1)).astype(types[0])
        got = run_reference(one_node("QLinearMatMul", f, ONNX_TYPE[np.dtype(types[2])]), f)
        np.testing.assert_array_equal(qlinear_matmul(**f, requantize="onnx_reference"), got)
        counts += attribute(f, got, qlinear_matmul(**f), "onnx_reference")
    CAUSES.update({f"qlinear_matmul tie-dense {k}": v for k, v in counts.items()})
    assert counts["onnx_reference: multiplier"] > 0


def test_reference_broadcasts_1d_per_row_zero_point_along_k() -> None:
    """onnx.reference departure: a 1-D per-row a_zero_point of a 2-D a (spec: one per row) is subtracted
    along K (NumPy broadcasting), and raises when M != K."""
    a, b = np.array([[3, 4], [5, 6]], U8), np.array([[1, 2], [3, 4]], U8)
    f = dict(a=a, b=b, a_zero_point=np.array([1, 2], U8))
    got = run_reference(one_node("MatMulInteger", f, TensorProto.INT32), f)
    assert got.tolist() == [[2 * 1 + 2 * 3, 2 * 2 + 2 * 4], [4 * 1 + 4 * 3, 4 * 2 + 4 * 4]]  # a - [[1, 2]]
    assert matmul_integer(**f).tolist() == [[2 * 1 + 3 * 3, 2 * 2 + 3 * 4], [3 * 1 + 4 * 3, 3 * 2 + 4 * 4]]
    f = dict(a=np.zeros((3, 2), U8), b=np.zeros((2, 2), U8), a_zero_point=np.array([1, 2, 3], U8))
    with pytest.raises(ValueError, match="broadcast"):
        run_reference(one_node("MatMulInteger", f, TensorProto.INT32), f)
    assert matmul_integer(**f).tolist() == [[0, 0], [0, 0], [0, 0]]
