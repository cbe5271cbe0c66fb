"""TFLite's 16x8 mode in the real interpreter (tensorflow 2.21) against refquant.interop.tflite.

One-layer models are converted once with the TFLite converter in the 16x8 mode
(``EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8``, a
representative dataset): int16 activations with zero point 0, int8 weights,
int64 bias. A ``FULLY_CONNECTED`` (``x @ W + b``, per channel and per tensor)
and a ``CONV_2D`` with a 1x1 filter on a 1x1 image (the same product, but a
kernel that rescales with the int64 MultiplyByQuantizedMultiplier). Their
flatbuffers are rewritten (``tensorflow.lite.tools.flatbuffer_utils``) with
chosen scales, weights and bias so that the inputs are tie-dense: power-of-two
scales make ``M`` a power of two, and weight codes 127, 1, -1 let the inputs
reach every accumulator, a fraction of them on exact ties. Measured here
(x86-64), what each resolver runs:

* ``FULLY_CONNECTED`` with its int64 bias: the float64 reference kernel in
  ``BUILTIN_REF``, ``BUILTIN_WITHOUT_DEFAULT_DELEGATES`` (the optimized kernel
  falls back to it) and ``AUTO`` (XNNPACK does not take the int16 node);
  without a bias, or with an int32 one, the optimized resolvers run ruy;
* ``CONV_2D``: the int64 MultiplyByQuantizedMultiplier in every resolver.

Each output must equal refquant bit for bit; the counts of outputs where the
candidate arithmetics differ show that the test tells them apart.
"""

from __future__ import annotations

import functools
import warnings
from typing import Any

import numpy as np
import pytest

from refquant.integer import requantize_fixed
from refquant.interop.tflite import (
    KERNELS,
    fully_connected_op,
    fully_connected_per_channel_16x8,
    populate_convolution_quantization_params,
)

tf = pytest.importorskip("tensorflow")
fbu = pytest.importorskip("tensorflow.lite.tools.flatbuffer_utils")

B, K, N = 8, 16, 8
RESOLVERS = {"reference": "BUILTIN_REF", "optimized": "BUILTIN_WITHOUT_DEFAULT_DELEGATES", "xnnpack": "AUTO"}
ACTIVATION_CODES = {"none": 0, "relu": 1, "relu_n1_to_1": 2, "relu6": 3}  # tflite ActivationFunctionType
TENSOR_TYPES = {"int32": 2, "int64": 4}  # tflite TensorType
I16 = (-32768, 32767)


@functools.cache
def template(layer: str, per_channel: bool = True) -> bytes:
    rng = np.random.default_rng(1)
    w = (rng.normal(size=(K, N)) * 0.3).astype(np.float32)
    b = (rng.normal(size=(N,)) * 0.1).astype(np.float32)
    shape = [B, K] if layer == "fc" else [B, 1, 1, K]

    @tf.function(input_signature=[tf.TensorSpec(shape, tf.float32)])
    def f(x: Any) -> Any:
        if layer == "fc":
            return tf.matmul(x, w) + b
        return tf.nn.conv2d(x, w.reshape(1, 1, K, N), 1, "VALID") + b

    def calibration() -> Any:
        for _ in range(8):
            yield [rng.normal(size=shape).astype(np.float32)]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        conv = tf.lite.TFLiteConverter.from_concrete_functions([f.get_concrete_function()], f)
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = calibration
        conv.target_spec.supported_ops = [
            tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
        ]
        conv.inference_input_type = tf.int16
        conv.inference_output_type = tf.int16
        if not per_channel:
            conv._experimental_disable_per_channel_quantization_for_dense_layers = True
        return bytes(conv.convert())


def parts(model: Any) -> tuple[Any, ...]:
    g = model.subgraphs[0]
    (op,) = g.operators
    x, w, b = (g.tensors[i] for i in op.inputs)
    return op, x, w, b, g.tensors[op.outputs[0]]


def converted_params(per_channel: bool, layer: str = "fc") -> dict[str, Any]:
    """The converter's own 16x8 quantization of a template."""
    model = fbu.read_model_from_bytearray(bytearray(template(layer, per_channel)))
    op, x, w, b, y = parts(model)
    assert (x.type, w.type, b.type, y.type) == (7, 9, 4, 7)  # int16, int8, int64, int16
    assert op.builtinOptions.quantizedBiasType == TENSOR_TYPES["int64"]
    assert x.quantization.zeroPoint[0] == y.quantization.zeroPoint[0] == 0
    return dict(
        s_in=float(x.quantization.scale[0]),
        s_w=np.array(w.quantization.scale, np.float32),
        w=np.frombuffer(bytes(model.buffers[w.buffer].data), np.int8).reshape(N, K),
        bias=np.frombuffer(bytes(model.buffers[b.buffer].data), np.int64),
        s_out=float(y.quantization.scale[0]),
    )


def rewrite(
    layer: str,
    per_channel: bool,
    *,
    s_in: float,
    s_w: Any,
    w: np.ndarray,
    bias: np.ndarray | None,
    s_out: float,
    activation: str = "none",
    bias_type: str = "int64",
) -> bytes:
    model = fbu.read_model_from_bytearray(bytearray(template(layer, per_channel)))
    op, x, wt, bt, y = parts(model)
    sw = np.atleast_1d(np.asarray(s_w, np.float32))
    x.quantization.scale = np.array([s_in], np.float32)
    wt.quantization.scale, wt.quantization.zeroPoint = sw, np.zeros(sw.size, np.int64)
    bt.quantization.scale = (np.float32(s_in) * sw).astype(np.float32)
    bt.quantization.zeroPoint = np.zeros(sw.size, np.int64)
    y.quantization.scale = np.array([s_out], np.float32)
    model.buffers[wt.buffer].data = np.ascontiguousarray(w, np.int8).view(np.uint8).ravel()
    if bias is None:
        op.inputs = np.array([op.inputs[0], op.inputs[1], -1], np.int32)  # an omitted optional input
    else:
        model.buffers[bt.buffer].data = np.ascontiguousarray(bias, bias_type).view(np.uint8).ravel()
        bt.type = TENSOR_TYPES[bias_type]
    op.builtinOptions.quantizedBiasType = TENSOR_TYPES[bias_type]
    op.builtinOptions.fusedActivationFunction = ACTIVATION_CODES[activation]
    return bytes(fbu.convert_object_to_bytearray(model))


def run(flat: bytes, xs: np.ndarray, kernel: str) -> np.ndarray:
    kind = getattr(tf.lite.experimental.OpResolverType, RESOLVERS[kernel])
    with warnings.catch_warnings():  # the interpreter's deprecation notice
        warnings.simplefilter("ignore")
        it = tf.lite.Interpreter(model_content=flat, experimental_op_resolver_type=kind)
        it.allocate_tensors()
    i, o = it.get_input_details()[0]["index"], it.get_output_details()[0]["index"]
    shape = it.get_input_details()[0]["shape"]
    out = []
    for xb in xs.reshape(-1, B, K):
        it.set_tensor(i, xb.reshape(shape))
        it.invoke()
        out.append(it.get_tensor(o).reshape(B, N).copy())
    return np.stack(out).reshape(*xs.shape[:-1], N)


def mirror(p: dict[str, Any], xs: np.ndarray, kernel: str, **kw: Any) -> np.ndarray:
    return fully_connected_op(
        xs,
        p["w"],
        p["bias"],
        input_scale=p["s_in"],
        input_zero_point=0,
        filter_scale=p["s_w"],
        output_scale=p["s_out"],
        output_zero_point=0,
        kernel=kernel,
        **kw,
    )


def tie_dense(seed: int, per_channel: bool = True, **scales: Any) -> tuple[dict[str, Any], np.ndarray]:
    """Weight codes 127, 1, -1 in the first three columns; inputs that sweep the accumulators densely.

    The biases are multiples of 128 and half of the rows are moved onto ``acc = 64 (mod 128)``
    (exact ties for ``M = 2**-7`` in every channel) or next to it.
    """
    rng = np.random.default_rng(seed)
    w = rng.integers(-127, 128, (N, K)).astype(np.int8)
    w[:, :3] = [127, 1, -1]
    p = dict(w=w, bias=128 * rng.integers(-30, 30, N).astype(np.int64), **scales)
    if not per_channel:
        p["s_w"] = np.atleast_1d(p["s_w"])[:1]
    xs = np.zeros((300, B, K), np.int64)  # columns 3.. contribute nothing
    xs[..., 0] = rng.integers(-250, 251, xs.shape[:2])
    xs[..., 1] = rng.integers(-32768 + 128, 32768, xs.shape[:2])
    xs[..., 2] = rng.integers(-32768, 32768, xs.shape[:2])
    tie = rng.random(xs.shape[:2]) < 0.5
    near = rng.choice(
        [63, 64, 64, 65], xs.shape[:2]
    )  # the tie, and where gemmlowp's first rounding makes one
    xs[..., 1] -= np.where(tie, (127 * xs[..., 0] + xs[..., 1] - xs[..., 2] - near) % 128, 0)
    return p, xs.astype(np.int16)


def accumulators(p: dict[str, Any], xs: np.ndarray) -> np.ndarray:
    acc = xs.astype(np.int64) @ p["w"].astype(np.int64).T
    return acc if p["bias"] is None else acc + p["bias"]


def int32_double(p: dict[str, Any], acc: np.ndarray) -> np.ndarray:
    """The int32 MultiplyByQuantizedMultiplier (gemmlowp double rounding) on the same accumulators."""
    q, s = populate_convolution_quantization_params(p["s_in"], np.broadcast_to(p["s_w"], (N,)), p["s_out"])
    return requantize_fixed(acc, q, s, 0, *I16, rounding="double").astype(np.int16)


def int64_path(p: dict[str, Any], xs: np.ndarray) -> np.ndarray:
    """The 16x8 integer kernel: per-channel multipliers (as Prepare) and the int64 overload."""
    q, s = populate_convolution_quantization_params(p["s_in"], np.broadcast_to(p["s_w"], (N,)), p["s_out"])
    kw = dict(
        input_offset=0, output_offset=0, quantized_activation_min=-32768, quantized_activation_max=32767
    )
    return fully_connected_per_channel_16x8(xs, p["w"], p["bias"], output_multiplier=q, output_shift=s, **kw)


POW2 = dict(s_in=2.0**-4, s_w=np.full(N, 2.0**-6), s_out=2.0**-3)  # M = 2**-7 exactly: q = 2**30
# M = 2**-3 (1 - 2**-17): q = 2**31 - 2**14 = 0x7FFFC000 >= 0x7FFF8000 (shift -3), whose 16-bit reduction
# saturates to 0x7FFF (rounding would give 0x8000): the reduced multiplier is 2**-3 (1 - 2**-15)
SATURATED = dict(s_in=2.0**-4, s_w=np.full(N, 2.0**-2 * (1 - 2**-17)), s_out=2.0**-3)


@pytest.mark.parametrize("per_channel", [True, False], ids=["per-channel", "per-tensor"])
@pytest.mark.parametrize("kernel", KERNELS)
def test_converted_model_bit_for_bit(per_channel: bool, kernel: str) -> None:
    p = converted_params(per_channel)
    xs = np.random.default_rng(2).integers(-32768, 32768, (200, B, K)).astype(np.int16)
    got, want = run(template("fc", per_channel), xs, kernel), mirror(p, xs, kernel)
    assert got.dtype == want.dtype == np.int16
    assert np.array_equal(got, want), f"{int((got != want).sum())} of {got.size} outputs differ"


@pytest.mark.parametrize("per_channel", [True, False], ids=["per-channel", "per-tensor"])
def test_fc_every_resolver_runs_the_float64_reference_not_the_int64_overload(per_channel: bool) -> None:
    p, xs = tie_dense(3, per_channel, **POW2)
    flat = rewrite("fc", per_channel, **p)
    outs = {k: run(flat, xs, k) for k in KERNELS}
    for kernel in KERNELS:
        want = mirror(p, xs, kernel)
        assert np.array_equal(outs[kernel], want), f"{kernel}: {int((outs[kernel] != want).sum())} differ"
        assert np.array_equal(outs[kernel], outs["reference"])
    # the other arithmetics give other outputs on these ties: the test would see them
    got = outs["reference"]
    acc = accumulators(p, xs)
    assert np.sum(got != int64_path(p, xs)) >= 100  # ties up, not away
    assert np.sum(got != int32_double(p, acc)) >= 100
    assert np.sum(got != mirror(p, xs, "optimized", quantized_bias_type="int32")) >= 100  # ruy


@pytest.mark.parametrize("bias", ["none", "int32"])
@pytest.mark.parametrize("per_channel", [True, False], ids=["per-channel", "per-tensor"])
def test_fc_without_an_int64_bias_the_optimized_resolvers_run_ruy(bias: str, per_channel: bool) -> None:
    p, xs = tie_dense(4, per_channel, **POW2)
    if bias == "none":
        p["bias"] = None
    flat = rewrite("fc", per_channel, bias_type="int32" if bias == "int32" else "int64", **p)
    kw = dict(quantized_bias_type="int32") if bias == "int32" else {}
    outs = {k: run(flat, xs, k) for k in KERNELS}
    for kernel in KERNELS:
        want = mirror(p, xs, kernel, **kw)
        assert np.array_equal(outs[kernel], want), f"{kernel}: {int((outs[kernel] != want).sum())} differ"
    assert np.array_equal(outs["optimized"], outs["xnnpack"])
    assert np.sum(outs["reference"] != outs["optimized"]) >= 100  # float64 ties away against ruy's


@pytest.mark.parametrize("activation", ["relu", "relu6", "relu_n1_to_1"])
def test_fc_fused_activations(activation: str) -> None:
    p, xs = tie_dense(5, s_in=2.0**-12, s_w=np.linspace(0.004, 0.02, N), s_out=2.0**-13)
    flat = rewrite("fc", True, activation=activation, **p)
    for kernel in KERNELS:
        got, want = run(flat, xs, kernel), mirror(p, xs, kernel, activation=activation)
        assert np.array_equal(got, want), (kernel, int((got != want).sum()))


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("per_channel", [True, False], ids=["per-channel", "per-tensor"])
def test_fc_random_scales(seed: int, per_channel: bool) -> None:
    """Log-uniform multipliers from 2**-20 to 2**-6; random weights and int64 biases."""
    rng = np.random.default_rng(100 + seed)
    log_m = rng.uniform(-20, -6, N if per_channel else 1)
    s_in, s_out = float(2.0 ** rng.uniform(-16, -8)), float(2.0 ** rng.uniform(-16, -8))
    p = dict(s_in=s_in, s_w=(2.0**log_m * s_out / s_in).astype(np.float32), s_out=s_out)
    p.update(w=rng.integers(-127, 128, (N, K)).astype(np.int8), bias=rng.integers(-(2**24), 2**24, N))
    xs = rng.integers(-32768, 32768, (150, B, K)).astype(np.int16)
    flat = rewrite("fc", per_channel, **p)
    for kernel in KERNELS:
        got, want = run(flat, xs, kernel), mirror(p, xs, kernel)
        assert np.array_equal(got, want), (kernel, int((got != want).sum()), got.size)


@pytest.mark.parametrize("scales", ["converted", "pow2", "saturated", "random"])
def test_conv_1x1_runs_the_int64_overload(scales: str) -> None:
    """The 16x8 CONV_2D: fully_connected_per_channel_16x8 with the int64 overload, in every resolver."""
    if scales == "converted":
        p = converted_params(True, "conv")
        xs = np.random.default_rng(8).integers(-32768, 32768, (300, B, K)).astype(np.int16)
        flat = template("conv")
    else:
        if scales == "random":
            rng = np.random.default_rng(7)
            s_w = (2.0 ** rng.uniform(-5, -3, N)).astype(np.float32)
            s = dict(s_in=2.0**-12, s_w=s_w, s_out=2.0**-11)
        else:
            s = POW2 if scales == "pow2" else SATURATED
        p, xs = tie_dense(6, **s)
        flat = rewrite("conv", True, **p)
    want = int64_path(p, xs)
    for kernel in KERNELS:
        got = run(flat, xs, kernel)
        assert np.array_equal(got, want), (kernel, int((got != want).sum()), got.size)
    acc = accumulators(p, xs)
    q, sh = populate_convolution_quantization_params(p["s_in"], p["s_w"], p["s_out"])
    differ = {
        "int32 double rounding": int(np.sum(want != int32_double(p, acc))),
        "float64 reference": int(np.sum(want != mirror(p, xs, "reference"))),
    }
    if scales == "saturated":  # what the unsaturated reduction (0x8000, i.e. M = 2**-3) would give instead
        differ["unsaturated reduction"] = int(np.sum(want != np.clip((acc + 2**2) >> 3, *I16)))
    if scales in (
        "random",
        "converted",
    ):  # one rounding of the 31-bit multiplier: the 16-bit reduction matters
        differ["31-bit q, one rounding"] = int(
            np.sum(want != requantize_fixed(acc, q, sh, 0, *I16, rounding="single"))
        )
    assert all(v >= 100 for v in differ.values()), differ


def test_fc_float64_path_beyond_int32_is_x86_64s_cast() -> None:
    """``round(double(acc) * M)`` past int32 (M = 2**20): each resolver gives x86-64's ``-2**31``, so -32768.

    A large positive value comes out as the minimum code, not the maximum; rows of x = 1 stay in range
    (``|acc M| = 16 * 127 * 2**20 < 2**31``), so the clamp is still seen to work there.
    """
    w = np.full((N, K), 127, np.int8)
    w[1::2] = -127
    p = dict(s_in=1.0, s_w=np.ones(N, np.float32), w=w, bias=np.zeros(N, np.int64), s_out=2.0**-20)
    xs = np.zeros((4 * B, K), np.int16)
    xs[0::4], xs[1::4], xs[2::4] = 1000, 1, -1000
    flat = rewrite("fc", True, **p)
    sign = np.sign(xs[:, :1].astype(np.int64)) * np.sign(w[:, 0].astype(np.int64))[None, :]
    for kernel in KERNELS:
        got = run(flat, xs, kernel)
        assert np.array_equal(got, mirror(p, xs, kernel)), kernel
        assert np.any(got != np.clip(sign * 2**40, *I16)), kernel  # not a clamp of the real value
