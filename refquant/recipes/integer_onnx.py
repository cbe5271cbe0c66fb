"""The integer-only MLP as an ONNX graph: a plain description, no ``onnx`` import.

refquant imports no framework at run time, so :func:`integer_graph` returns the
graph as plain Python data (nodes, initializers, inputs and outputs); the
conformance tests build the ``onnx`` model from it and run it in ONNX Runtime.
Three forms: ``"integer"`` (MatMulInteger and a float32 multiplier),
``"qlinear"`` (ONNX Runtime's QOperator form, ``com.microsoft.QGemm``) and
``"qdq"`` (ONNX's QuantizeLinear / DequantizeLinear form around float ops).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from refquant._validate import check_choice
from refquant.integer import requantization_multiplier
from refquant.nn.integer import IntegerMLP

__all__ = ["FORMS", "integer_graph"]

FORMS = ("integer", "qlinear", "qdq")
"""The export forms of :func:`integer_graph`."""

_MS = "com.microsoft"
_Node = tuple[str, list[str], list[str], dict[str, str | int]]


def integer_graph(model: IntegerMLP, *, form: str = "integer") -> dict[str, Any]:
    """The integer MLP as a plain description of an ONNX graph (opset 13): nodes, initializers, I/O.

    Parameters
    ----------
    model : IntegerMLP
        From :func:`~refquant.nn.integer.convert_to_integer` (any
        :class:`~refquant.nn.integer.IntegerLinear` layers).
    form : {"integer", "qlinear", "qdq"}
        ``"integer"``: MatMulInteger, the int32 bias, a float32 multiplier;
        ``"qlinear"``: ONNX Runtime's ``com.microsoft.QGemm`` per layer, ReLU
        as ``Clip`` on the codes; ``"qdq"``: DequantizeLinear, float ``Gemm``,
        ``Relu``, QuantizeLinear (ONNX Runtime's recommended QDQ format).

    Returns
    -------
    dict
        ``{"opset": 13, "opset_imports": {domain: version}, "input": (name,
        dtype, in), "output": (name, dtype, out), "initializers": {name:
        ndarray}, "nodes": [(op, inputs, outputs, attributes)]}``. The input and
        output are the codes (the activation dtype, ``"int8"`` or ``"uint8"``),
        of shape ``(N, in)`` and ``(N, out)``. ``opset_imports`` is ``{"": 13}``,
        plus ``"com.microsoft": 1`` when a node uses it. In ``attributes`` a
        ``str`` value is a tensor element type name (``Cast``'s ``{"to":
        "float32"}``), an ``int`` an INT attribute (``transB``, ``axis``), and
        the key ``"domain"`` is no attribute but the node's operator domain
        (``onnx.helper.make_node``'s ``domain=``; absent: the default domain).
        ``tests/conformance`` builds the ``onnx`` model from it (refquant
        imports no framework). A fresh dict of fresh arrays on every call.

    Raises
    ------
    TypeError
        ``model`` is not an :class:`~refquant.nn.integer.IntegerMLP`.
    ValueError
        ``form`` is not one of :data:`FORMS`.

    Notes
    -----
    Per layer, with :math:`\\text{acc} = (x_q - z_{in}) W_q^T + b_q` (int32),
    :math:`m = fl_{32}(fl_{32}(s_{in} s_w) / s_{out})` per output channel and
    :math:`R` round half to even, saturating to the activation type:

    .. math::

        \\text{integer, qlinear:}\\quad y = \\operatorname{clip}(R(fl_{32}(\\text{acc}) \\cdot m)
        + z_{out},\\ q_{min}, q_{max}) \\qquad
        \\text{qdq:}\\quad y = \\operatorname{clip}(R(\\operatorname{relu}(\\hat x \\hat W^T + \\hat b)
        / s_{out}) + z_{out})

    with :math:`\\hat x = s_{in}(x_q - z_{in})`, :math:`\\hat W = s_w W_q`,
    :math:`\\hat b = fl_{32}(s_{in} s_w)\\, b_q`, all in float32.

    * ``"integer"``: ``MatMulInteger(x, W^T, z_in, 0)`` -> ``Add(b_q)`` ->
      ``Cast(float32)`` -> ``Mul(m)`` -> ``Relu`` (hidden layers) ->
      ``QuantizeLinear(scale 1, z_out)``. ``Relu`` before the quantization
      equals the fused clamp at ``z_out``: ``R(max(v, 0)) = max(R(v), 0)``.
    * ``"qlinear"``: ``QGemm(x, s_in, z_in, W_q, s_w, 0, b_q, s_out, z_out)``
      with ``transB=1`` (``W_q`` stays ``(out, in)``; ``s_w`` and its zero
      points are ``out``-vectors, one shape, as ORT requires), then, for the
      hidden layers, ``Clip(y, q_min, q_max)`` on the codes, ``q_min =
      max(type min, z_out)`` (ONNX Runtime's Clip has int8 and uint8 kernels;
      ``Relu`` on codes would clamp at 0, not at ``z_out``). QGemm's kernel
      requantizes as MLAS does, ``R(fl32(acc) * m)`` with ``m = fl32(fl32(1 *
      s_in) * s_w) / s_out`` (:func:`refquant.interop.onnx_integer.qgemm`,
      ``requantize="onnxruntime"``), then saturates; saturating then clamping
      to a sub-range equals clamping once, ``clip(clip(u, lo, hi), q_min,
      q_max) = clip(u, q_min, q_max)`` for ``lo <= q_min <= q_max <= hi``.
      ONNX Runtime's quantizer emits the same QGemm and drops the ReLU when
      ``z_out`` is the type's minimum (as for every hidden layer
      :func:`~refquant.nn.integer.convert_to_integer` makes: the calibrated
      range of a ReLU output starts at 0); refquant keeps the clamp so that any
      :class:`~refquant.nn.integer.IntegerLinear` is exported faithfully.
    * ``"qdq"``: ``DequantizeLinear(x, s_in, z_in)``; ``Gemm(x̂, Ŵ, b̂,
      transB=1)`` with ``Ŵ = DequantizeLinear(W_q, s_w, 0, axis=0)`` and
      ``b̂ = DequantizeLinear(b_q, fl32(s_in s_w), 0, axis=0)``; ``Relu``
      (hidden layers); ``QuantizeLinear(s_out, z_out)``. ``Gemm`` rather than
      ``MatMul`` + ``Add``: ONNX Runtime fuses ``DQ -> Gemm -> Q`` (with the
      DQ of an int32 bias) into QGemm directly (``MatMul`` + ``Add`` only
      after its ``MatMulAddFusion``), when the input and output codes have
      one type (on x86-64 its int8-to-uint8 rewrite of the hidden Q/DQ pairs
      leaves an int8 graph's first and last layers in float32); ``Relu``
      before a ``QuantizeLinear`` whose zero point is the type's minimum is
      removed by its ``ReluQuantFusion`` (otherwise Gemm and Relu become a
      float32 ``FusedGemm``). The bias scale ``fl32(s_in s_w)`` is rounded (a
      float32 initializer); the model's ``b_q`` was made with the exact
      product. Unfused, the graph runs in float32 and agrees with the other
      forms except near rounding ties (``tests/conformance`` bounds and
      measures it).

    The three forms compute :func:`~refquant.nn.integer.simulate_forward` with
    ``requantization="float"`` (``"qdq"``: up to its float32 roundings, which
    can move a code by 1 next to a rounding tie), not the fixed-point model:
    ONNX has no fixed-point multiplier. Each layer's codes differ from the
    fixed-point ones where
    :func:`~refquant.nn.integer.requantization_differences` counts a difference.
    Sources: ONNX operators MatMulInteger, QuantizeLinear, DequantizeLinear
    (opset 13), Gemm, Clip; ONNX Runtime contrib operator QGemm
    (``contrib_ops/cpu/quantization/quant_gemm.cc``).

    Examples
    --------
    >>> from refquant.nn.integer import convert_to_integer
    >>> c = [np.array([[0.0, 1.0]])]
    >>> m = convert_to_integer([(np.eye(2), np.zeros(2)), (np.eye(2), np.zeros(2))], c)
    >>> [op for op, *_ in integer_graph(m)["nodes"]][:6]
    ['MatMulInteger', 'Add', 'Cast', 'Mul', 'Relu', 'QuantizeLinear']
    >>> g = integer_graph(m, form="qlinear")
    >>> [op for op, *_ in g["nodes"]], g["opset_imports"]
    (['QGemm', 'Clip', 'QGemm'], {'': 13, 'com.microsoft': 1})
    >>> [op for op, *_ in integer_graph(m, form="qdq")["nodes"]][:6]
    ['DequantizeLinear', 'DequantizeLinear', 'DequantizeLinear', 'Gemm', 'Relu', 'QuantizeLinear']
    """
    if not isinstance(model, IntegerMLP):
        raise TypeError(f"model must be an IntegerMLP, got {type(model).__name__}")
    check_choice("form", form, FORMS)
    dt = model.activation_dtype
    inits: dict[str, Any] = {}
    nodes: list[_Node] = []
    x = "x_q"
    for i, L in enumerate(model.layers):
        y = "y_q" if i == len(model.layers) - 1 else f"l{i}_y"
        layer = {"integer": _integer_layer, "qlinear": _qlinear_layer, "qdq": _qdq_layer}[form]
        layer(L, dt, f"l{i}_", x, y, inits, nodes)
        x = y
    n_in, n_out = model.layers[0].weight.shape[1], model.layers[-1].weight.shape[0]
    imports = {"": 13, _MS: 1} if form == "qlinear" else {"": 13}
    return {"opset": 13, "opset_imports": imports, "input": ("x_q", dt, n_in), "output": ("y_q", dt, n_out),
            "initializers": inits, "nodes": nodes}  # fmt: skip


def _integer_layer(
    L: Any, dt: str, p: str, x: str, y: str, inits: dict[str, Any], nodes: list[_Node]
) -> None:
    inits[p + "w"] = np.array(L.weight.T, order="C")  # a copy, even where .T is contiguous
    inits[p + "z_in"] = np.array(L.input_zero_point, dt)
    inits[p + "z_w"] = np.array(0, np.int8)
    inits[p + "b"] = L.bias.copy()
    inits[p + "m"] = requantization_multiplier(L.input_scale, L.weight_scale, L.output_scale)
    inits[p + "one"] = np.array(1.0, np.float32)
    inits[p + "z_out"] = np.array(L.output_zero_point, dt)
    nodes.append(("MatMulInteger", [x, p + "w", p + "z_in", p + "z_w"], [p + "acc"], {}))
    nodes.append(("Add", [p + "acc", p + "b"], [p + "accb"], {}))
    nodes.append(("Cast", [p + "accb"], [p + "accf"], {"to": "float32"}))
    nodes.append(("Mul", [p + "accf", p + "m"], [p + "v"], {}))
    v = p + "v"
    if L.relu:
        nodes.append(("Relu", [v], [p + "r"], {}))
        v = p + "r"
    nodes.append(("QuantizeLinear", [v, p + "one", p + "z_out"], [y], {}))


def _scales(L: Any, dt: str, p: str, inits: dict[str, Any]) -> None:
    """The initializers QGemm and the QDQ graph share: W_q (out, in), scales, zero points, b_q."""
    n = L.weight.shape[0]
    inits[p + "s_in"] = np.array(L.input_scale, np.float32)
    inits[p + "z_in"] = np.array(L.input_zero_point, dt)
    inits[p + "w"] = L.weight.copy()
    inits[p + "s_w"] = np.array(L.weight_scale, np.float32)
    inits[p + "z_w"] = np.zeros(n, np.int8)
    inits[p + "b"] = L.bias.copy()
    inits[p + "s_out"] = np.array(L.output_scale, np.float32)
    inits[p + "z_out"] = np.array(L.output_zero_point, dt)


def _qlinear_layer(
    L: Any, dt: str, p: str, x: str, y: str, inits: dict[str, Any], nodes: list[_Node]
) -> None:
    _scales(L, dt, p, inits)
    ins = [x, p + "s_in", p + "z_in", p + "w", p + "s_w", p + "z_w", p + "b", p + "s_out", p + "z_out"]
    if not L.relu:
        nodes.append(("QGemm", ins, [y], {"transB": 1, "domain": _MS}))
        return
    inits[p + "qmin"] = np.array(L.qmin, dt)
    inits[p + "qmax"] = np.array(L.qmax, dt)
    nodes.append(("QGemm", ins, [p + "q"], {"transB": 1, "domain": _MS}))
    nodes.append(("Clip", [p + "q", p + "qmin", p + "qmax"], [y], {}))


def _qdq_layer(L: Any, dt: str, p: str, x: str, y: str, inits: dict[str, Any], nodes: list[_Node]) -> None:
    _scales(L, dt, p, inits)
    s_b = np.float32(L.input_scale) * np.asarray(L.weight_scale, np.float32)  # float32 product
    inits[p + "s_b"] = np.asarray(s_b, np.float32)
    inits[p + "z_b"] = np.zeros(L.weight.shape[0], np.int32)
    nodes.append(("DequantizeLinear", [x, p + "s_in", p + "z_in"], [p + "xf"], {}))
    nodes.append(("DequantizeLinear", [p + "w", p + "s_w", p + "z_w"], [p + "wf"], {"axis": 0}))
    nodes.append(("DequantizeLinear", [p + "b", p + "s_b", p + "z_b"], [p + "bf"], {"axis": 0}))
    v = p + "v"
    nodes.append(("Gemm", [p + "xf", p + "wf", p + "bf"], [v], {"transB": 1}))
    if L.relu:
        nodes.append(("Relu", [v], [p + "r"], {}))
        v = p + "r"
    nodes.append(("QuantizeLinear", [v, p + "s_out", p + "z_out"], [y], {}))
