"""``integer_graph``'s three forms as plain data: ops, initializers, attributes, arguments, purity.

No framework here: tests/conformance/test_integer_mlp_conformance.py builds
the ``onnx`` models and runs them in ONNX Runtime.
"""

from __future__ import annotations

import copy
import itertools
from typing import Any

import numpy as np
import pytest

from refquant.nn.integer import IntegerMLP, convert_to_integer
from refquant.recipes.integer_onnx import FORMS, integer_graph

MS = "com.microsoft"


def _model(dtype: str = "int8", sizes: tuple[int, ...] = (4, 3, 2)) -> IntegerMLP:
    rng = np.random.default_rng(1)
    params = [(rng.normal(size=(o, i)), rng.normal(size=o) * 0.1) for i, o in itertools.pairwise(sizes)]
    calib = [rng.uniform(-1, 2, (32, sizes[0]))]
    return convert_to_integer(params, calib, activation_dtype=dtype)


def _ops(g: dict[str, Any]) -> list[str]:
    return [op for op, *_ in g["nodes"]]


def _inits(g: dict[str, Any], names: list[str]) -> list[np.ndarray]:
    return [g["initializers"][n] for n in names]


@pytest.mark.parametrize("dtype", ["int8", "uint8"])
@pytest.mark.parametrize("form", FORMS)
def test_every_name_is_defined_once_and_used(form: str, dtype: str) -> None:
    g = integer_graph(_model(dtype), form=form)
    assert g["input"] == ("x_q", dtype, 4) and g["output"] == ("y_q", dtype, 2)
    defined = {"x_q", *g["initializers"]}
    used = set()
    for _, ins, outs, attrs in g["nodes"]:
        assert set(ins) <= defined  # topological order: inputs exist before the node
        assert not set(outs) & defined  # single assignment
        defined |= set(outs)
        used |= set(ins)
        assert all(isinstance(v, (int, str)) and not isinstance(v, bool) for v in attrs.values())
    assert g["nodes"][-1][2] == ["y_q"]
    assert set(g["initializers"]) <= used  # no dead initializer
    assert g["opset"] == 13
    assert g["opset_imports"] == ({"": 13, MS: 1} if form == "qlinear" else {"": 13})


def test_the_op_sequence_of_each_form() -> None:
    m = _model()  # two layers: a hidden ReLU layer, then the logits
    assert _ops(integer_graph(m)) == _ops(integer_graph(m, form="integer")) == [
        "MatMulInteger", "Add", "Cast", "Mul", "Relu", "QuantizeLinear",
        "MatMulInteger", "Add", "Cast", "Mul", "QuantizeLinear",
    ]  # fmt: skip
    assert _ops(integer_graph(m, form="qlinear")) == ["QGemm", "Clip", "QGemm"]
    dq = ["DequantizeLinear"] * 3
    assert _ops(integer_graph(m, form="qdq")) == [
        *dq,
        "Gemm",
        "Relu",
        "QuantizeLinear",
        *dq,
        "Gemm",
        "QuantizeLinear",
    ]


def test_the_integer_form_is_the_documented_graph() -> None:
    m = _model("uint8")
    g = integer_graph(m)
    L = m.layers[0]
    op, ins, outs, attrs = g["nodes"][0]
    assert (op, ins, outs, attrs) == ("MatMulInteger", ["x_q", "l0_w", "l0_z_in", "l0_z_w"], ["l0_acc"], {})
    w, z_in, z_w = _inits(g, ins[1:])
    assert w.dtype == np.int8 and np.array_equal(w, L.weight.T) and w.flags.c_contiguous
    assert z_in.dtype == np.uint8 and z_in.shape == () and int(z_in) == L.input_zero_point
    assert z_w.dtype == np.int8 and int(z_w) == 0
    assert g["nodes"][2] == ("Cast", ["l0_accb"], ["l0_accf"], {"to": "float32"})
    mult = g["initializers"]["l0_m"]
    assert mult.dtype == np.float32 and mult.shape == (3,)
    # ONNX Runtime's multiplier, fl32(fl32(s_in * s_w) / s_out), in NumPy float32 arithmetic
    want = (np.float32(L.input_scale) * L.weight_scale.astype(np.float32)) / np.float32(L.output_scale)
    assert want.dtype == np.float32 and np.array_equal(mult, want)
    assert g["nodes"][5] == ("QuantizeLinear", ["l0_r", "l0_one", "l0_z_out"], ["l0_y"], {})
    assert float(g["initializers"]["l0_one"]) == 1.0


@pytest.mark.parametrize("dtype", ["int8", "uint8"])
def test_the_qlinear_form_is_qgemm_then_clip(dtype: str) -> None:
    m = _model(dtype)
    g = integer_graph(m, form="qlinear")
    (op, ins, outs, attrs), clip, last = g["nodes"]
    assert op == "QGemm" and attrs == {"transB": 1, "domain": MS} and outs == ["l0_q"]
    assert ins[0] == "x_q" and len(ins) == 9  # A, a_scale, a_zp, B, b_scale, b_zp, C, y_scale, y_zp
    L = m.layers[0]
    s_in, z_in, w, s_w, z_w, b, s_out, z_out = _inits(g, ins[1:])
    assert s_in.dtype == np.float32 and s_in.shape == () and s_in == L.input_scale
    assert z_in.dtype == dtype and z_in.shape == () and int(z_in) == L.input_zero_point
    assert w.dtype == np.int8 and w.shape == (3, 4) and np.array_equal(w, L.weight)  # (out, in): transB
    assert s_w.dtype == np.float32 and s_w.shape == (3,) and np.array_equal(s_w, L.weight_scale)
    assert z_w.dtype == np.int8 and z_w.shape == (3,) and not z_w.any()  # b_scale's shape (ORT's rule)
    assert b.dtype == np.int32 and np.array_equal(b, L.bias)
    assert s_out.dtype == np.float32 and s_out == L.output_scale
    assert z_out.dtype == dtype and int(z_out) == L.output_zero_point
    assert clip[0] == "Clip" and clip[1][0] == "l0_q" and clip[2] == ["l0_y"] and clip[3] == {}
    lo, hi = _inits(g, clip[1][1:])
    assert lo.dtype == hi.dtype == np.dtype(dtype) and (int(lo), int(hi)) == (L.qmin, L.qmax)
    assert last[0] == "QGemm" and last[1][0] == "l0_y" and last[2] == ["y_q"]


@pytest.mark.parametrize("dtype", ["int8", "uint8"])
def test_the_qdq_form_dequantizes_around_a_float_gemm(dtype: str) -> None:
    m = _model(dtype)
    g = integer_graph(m, form="qdq")
    L = m.layers[0]
    (_, x_in, x_out, x_at), (_, w_in, w_out, w_at), (_, b_in, b_out, b_at), gemm, relu, q = g["nodes"][:6]
    assert x_in[0] == "x_q" and x_at == {}
    s_in, z_in = _inits(g, x_in[1:])
    assert s_in.dtype == np.float32 and int(z_in) == L.input_zero_point and z_in.dtype == dtype
    w, s_w, z_w = _inits(g, w_in)
    assert w_at == {"axis": 0} and w.shape == (3, 4) and np.array_equal(w, L.weight) and s_w.shape == (3,)
    assert z_w.dtype == np.int8 and not z_w.any()
    b, s_b, z_b = _inits(g, b_in)
    assert b_at == {"axis": 0} and b.dtype == np.int32 and np.array_equal(b, L.bias)
    # the bias scale: s_in * s_w rounded once to float32 (float64 holds the product of two floats exactly)
    want = (np.float64(L.input_scale) * L.weight_scale.astype(np.float64)).astype(np.float32)
    assert s_b.dtype == np.float32 and np.array_equal(s_b, want)
    assert z_b.dtype == np.int32 and z_b.shape == (3,) and not z_b.any()
    assert gemm == ("Gemm", [x_out[0], w_out[0], b_out[0]], ["l0_v"], {"transB": 1})
    assert relu == ("Relu", ["l0_v"], ["l0_r"], {})
    assert q[0] == "QuantizeLinear" and q[1][0] == "l0_r" and q[2] == ["l0_y"]
    s_out, z_out = _inits(g, q[1][1:])
    assert s_out.dtype == np.float32 and s_out == L.output_scale and int(z_out) == L.output_zero_point
    assert g["nodes"][6][1][0] == "l0_y" and g["nodes"][-1][0] == "QuantizeLinear"


@pytest.mark.parametrize("form", ["QDQ", "qgemm", "", None, 1])
def test_a_bad_form_raises_naming_it(form: Any) -> None:
    with pytest.raises(ValueError, match=rf"form must be one of .*got {form!r}"):
        integer_graph(_model(), form=form)


@pytest.mark.parametrize("model", [None, [], "model", np.zeros(3)])
def test_a_model_that_is_not_an_integer_mlp_raises(model: Any) -> None:
    with pytest.raises(TypeError, match="model must be an IntegerMLP"):
        integer_graph(model, form="qdq")


@pytest.mark.parametrize("form", FORMS)
def test_the_model_is_not_modified_and_the_arrays_are_fresh(form: str) -> None:
    m = _model(sizes=(4, 3, 1))  # a one-output layer: its weight's transpose is contiguous already
    before = copy.deepcopy(m)
    g = integer_graph(m, form=form)
    for a, b in zip(m.layers, before.layers, strict=True):
        for name in ("weight", "bias", "weight_scale", "multiplier", "shift"):
            assert np.array_equal(getattr(a, name), getattr(b, name))
    for v in g["initializers"].values():
        v[...] = 0  # no initializer shares memory with the model
    for a, b in zip(m.layers, before.layers, strict=True):
        for name in ("weight", "bias", "weight_scale"):
            assert np.array_equal(getattr(a, name), getattr(b, name))


@pytest.mark.parametrize("form", FORMS)
def test_the_graph_is_deterministic(form: str) -> None:
    m = _model("uint8")
    g1, g2 = integer_graph(m, form=form), integer_graph(m, form=form)
    assert g1["nodes"] == g2["nodes"] and g1.keys() == g2.keys()
    assert list(g1["initializers"]) == list(g2["initializers"])
    for k, v in g1["initializers"].items():
        assert v.dtype == g2["initializers"][k].dtype and np.array_equal(v, g2["initializers"][k])
