"""TFLite's int8 FULLY_CONNECTED in the real interpreter (tensorflow 2.21) against refquant.interop.tflite.

A one-layer model is converted once from a ``tf.function`` (``x @ W + b``) with
the TFLite converter and a representative dataset (full int8), per channel
(the converter's default) and per tensor. Its flatbuffer is then rewritten
(``tensorflow.lite.tools.flatbuffer_utils``) with chosen scales, zero points,
weights, bias and fused activation, so that the inputs can be made tie-dense:
power-of-two scales make ``M = s_in s_w / s_out`` a power of two, and weight
codes 127, 1 and -1 let the inputs reach every accumulator, half of them on
exact ties. Each resolver's output must equal
:func:`refquant.interop.tflite.fully_connected_op` with its kernel, bit for bit;
on the ties the three kernels differ from each other, which shows the test
tells them apart. What each resolver runs (measured here, x86-64):

* ``BUILTIN_REF``: the float-scale reference kernels, ``round(double(acc) * M)``
  (ties away), ``M`` in double;
* ``BUILTIN_WITHOUT_DEFAULT_DELEGATES``: ruy, QuantizeMultiplier's fixed point,
  double rounding with both ties upward (``rounding="double_up"``);
* ``AUTO`` (the default, XNNPACK): float32, ``fl32(acc) * fl32(fl32(s_in s_w) / s_out)``, ties to even.
"""

from __future__ import annotations

import functools
import warnings
from typing import Any

import numpy as np
import pytest

from refquant.integer import requantization_multiplier, requantize_fixed, requantize_float
from refquant.interop.tflite import KERNELS, fully_connected_op, quantize_multiplier

tf = pytest.importorskip("tensorflow")
fbu = pytest.importorskip("tensorflow.lite.tools.flatbuffer_utils")

B, K, N = 8, 16, 8
RESOLVERS = {"reference": "BUILTIN_REF", "optimized": "BUILTIN_WITHOUT_DEFAULT_DELEGATES", "xnnpack": "AUTO"}
ACTIVATION_CODES = {"none": 0, "relu": 1, "relu_n1_to_1": 2, "relu6": 3}  # tflite ActivationFunctionType


@functools.cache
def template(per_channel: bool) -> bytes:
    rng = np.random.default_rng(1)
    w = (rng.normal(size=(K, N)) * 0.3).astype(np.float32)
    b = (rng.normal(size=(N,)) * 0.1).astype(np.float32)

    @tf.function(input_signature=[tf.TensorSpec([B, K], tf.float32)])
    def f(x: Any) -> Any:
        return tf.matmul(x, w) + b

    def calibration() -> Any:
        for _ in range(8):
            yield [rng.normal(size=(B, K)).astype(np.float32)]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        conv = tf.lite.TFLiteConverter.from_concrete_functions([f.get_concrete_function()], f)
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = calibration
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
        if not per_channel:
            conv._experimental_disable_per_channel_quantization_for_dense_layers = True
        return bytes(conv.convert())


def converted_params(per_channel: bool) -> dict[str, Any]:
    """The converter's own quantization of the template (its calibrated scales and weights)."""
    model = fbu.read_model_from_bytearray(bytearray(template(per_channel)))
    g = model.subgraphs[0]
    (op,) = g.operators
    x, w, b = (g.tensors[i] for i in op.inputs)
    y = g.tensors[op.outputs[0]]
    return dict(
        s_in=float(x.quantization.scale[0]),
        z_in=int(x.quantization.zeroPoint[0]),
        s_w=np.array(w.quantization.scale, np.float32),
        w=np.frombuffer(bytes(model.buffers[w.buffer].data), np.int8).reshape(N, K),
        bias=np.frombuffer(bytes(model.buffers[b.buffer].data), np.int32),
        s_out=float(y.quantization.scale[0]),
        z_out=int(y.quantization.zeroPoint[0]),
    )


def rewrite(
    per_channel: bool,
    *,
    s_in: float,
    z_in: int,
    s_w: Any,
    w: np.ndarray,
    bias: np.ndarray,
    s_out: float,
    z_out: int,
    activation: str = "none",
) -> bytes:
    model = fbu.read_model_from_bytearray(bytearray(template(per_channel)))
    g = model.subgraphs[0]
    (op,) = g.operators
    x, wt, bt = (g.tensors[i] for i in op.inputs)
    y = g.tensors[op.outputs[0]]
    sw = np.atleast_1d(np.asarray(s_w, np.float32))
    x.quantization.scale, x.quantization.zeroPoint = np.array([s_in], np.float32), np.array([z_in], np.int64)
    wt.quantization.scale, wt.quantization.zeroPoint = sw, np.zeros(sw.size, np.int64)
    bt.quantization.scale = (np.float32(s_in) * sw).astype(np.float32)
    bt.quantization.zeroPoint = np.zeros(sw.size, np.int64)
    y.quantization.scale, y.quantization.zeroPoint = (
        np.array([s_out], np.float32),
        np.array([z_out], np.int64),
    )
    model.buffers[wt.buffer].data = np.ascontiguousarray(w, np.int8).view(np.uint8).ravel()
    model.buffers[bt.buffer].data = np.ascontiguousarray(bias, np.int32).view(np.uint8).ravel()
    op.builtinOptions.fusedActivationFunction = ACTIVATION_CODES[activation]
    return bytes(fbu.convert_object_to_bytearray(model))


def run(flat: bytes, xs: np.ndarray, kernel: str) -> np.ndarray:
    kind = getattr(tf.lite.experimental.OpResolverType, RESOLVERS[kernel])
    with warnings.catch_warnings():  # the interpreter's deprecation notice
        warnings.simplefilter("ignore")
        it = tf.lite.Interpreter(model_content=flat, experimental_op_resolver_type=kind)
        it.allocate_tensors()
    i, o = it.get_input_details()[0]["index"], it.get_output_details()[0]["index"]
    out = []
    for xb in xs.reshape(-1, B, K):
        it.set_tensor(i, xb)
        it.invoke()
        out.append(it.get_tensor(o).copy())
    return np.stack(out).reshape(*xs.shape[:-1], N)


def mirror(p: dict[str, Any], xs: np.ndarray, kernel: str, activation: str = "none") -> np.ndarray:
    return fully_connected_op(
        xs,
        p["w"],
        p["bias"],
        input_scale=p["s_in"],
        input_zero_point=p["z_in"],
        filter_scale=p["s_w"],
        output_scale=p["s_out"],
        output_zero_point=p["z_out"],
        activation=activation,
        kernel=kernel,
    )


def tie_dense(per_channel: bool, seed: int, **scales: Any) -> tuple[dict[str, Any], np.ndarray]:
    """Weight codes 127, 1, -1 in the first three columns; inputs that sweep the accumulators densely."""
    rng = np.random.default_rng(seed)
    w = rng.integers(-127, 128, (N, K)).astype(np.int8)
    w[:, :3] = [127, 1, -1]
    z_in, z_out = 3, -5
    p = dict(w=w, bias=rng.integers(-1000, 1000, N).astype(np.int32), z_in=z_in, z_out=z_out, **scales)
    if not per_channel:
        p["s_w"] = np.atleast_1d(p["s_w"])[:1]
    xs = np.full((400, B, K), z_in, np.int8)  # columns 3.. contribute nothing
    xs[..., 0] = rng.integers(z_in - 60, z_in + 61, xs.shape[:2])
    xs[..., 1:3] = rng.integers(-128, 128, (*xs.shape[:2], 2))
    return p, xs


POW2 = dict(s_in=2.0**-4, s_w=np.full(N, 2.0**-6), s_out=2.0**-3)  # M = 2**-7 exactly
# M = 2**-7 (1 + 2**-16)(1 - 2**-17) / (1 + 2**-17) = 2**-7 (1 - 2**-33 / (1 + 2**-17)): in double its
# mantissa rounds to 2**31 (the carry of QuantizeMultiplier); in float32, fl32(s_in s_w) = 2**-10 (1 + 2**-17)
# and M = 2**-7 exactly
CARRY = dict(
    s_in=2.0**-4 * (1 + 2**-16), s_w=np.full(N, 2.0**-6 * (1 - 2**-17)), s_out=2.0**-3 * (1 + 2**-17)
)


@pytest.mark.parametrize("per_channel", [True, False], ids=["per-channel", "per-tensor"])
@pytest.mark.parametrize("kernel", KERNELS)
def test_converted_model_bit_for_bit(per_channel: bool, kernel: str) -> None:
    p = converted_params(per_channel)
    rng = np.random.default_rng(2)
    xs = rng.integers(-128, 128, (300, B, K)).astype(np.int8)
    got = run(template(per_channel), xs, kernel)
    want = mirror(p, xs, kernel)
    assert got.dtype == want.dtype == np.int8
    assert np.array_equal(got, want), f"{int((got != want).sum())} of {got.size} outputs differ"


@pytest.mark.parametrize("per_channel", [True, False], ids=["per-channel", "per-tensor"])
def test_tie_dense_each_resolver_is_its_kernel_and_the_kernels_differ(per_channel: bool) -> None:
    p, xs = tie_dense(per_channel, 3, **POW2)
    flat = rewrite(per_channel, **p)
    outs = {k: run(flat, xs, k) for k in KERNELS}
    for kernel in KERNELS:
        want = mirror(p, xs, kernel)
        assert np.array_equal(outs[kernel], want), f"{kernel}: {int((outs[kernel] != want).sum())} differ"
    for a in KERNELS:  # every pair of kernels disagrees on some ties: the test discriminates them
        for b in KERNELS:
            if a < b:
                assert np.sum(outs[a] != outs[b]) >= 20, (a, b)


@pytest.mark.parametrize("per_channel", [True, False], ids=["per-channel", "per-tensor"])
def test_the_carry_of_quantize_multiplier(per_channel: bool) -> None:
    p, xs = tie_dense(per_channel, 4, **CARRY)
    flat = rewrite(per_channel, **p)
    for kernel in KERNELS:
        assert np.array_equal(run(flat, xs, kernel), mirror(p, xs, kernel)), kernel
    # the optimized kernel's multiplier carried to exactly 2**-7: the same outputs as with M = 2**-7
    exact = rewrite(
        per_channel,
        **{**p, **({k: POW2[k] for k in POW2} if per_channel else {**POW2, "s_w": POW2["s_w"][:1]})},
    )
    assert np.array_equal(run(flat, xs, "optimized"), run(exact, xs, "optimized"))
    m = 2.0**-4 * (1 + 2**-16) * (2.0**-6 * (1 - 2**-17)) / (2.0**-3 * (1 + 2**-17))
    assert quantize_multiplier(m) == (2**30, -6) and m != 2.0**-7


@pytest.mark.parametrize("activation", ["relu", "relu6", "relu_n1_to_1"])
@pytest.mark.parametrize("per_channel", [True, False], ids=["per-channel", "per-tensor"])
def test_fused_activations(activation: str, per_channel: bool) -> None:
    scales = dict(s_in=0.05, s_w=np.linspace(0.004, 0.02, N), s_out=0.03)
    p, xs = tie_dense(per_channel, 5, **scales)
    flat = rewrite(per_channel, activation=activation, **p)
    for kernel in KERNELS:
        got, want = run(flat, xs, kernel), mirror(p, xs, kernel, activation)
        assert np.array_equal(got, want), (kernel, int((got != want).sum()))


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("per_channel", [True, False], ids=["per-channel", "per-tensor"])
def test_random_scales_and_zero_points(seed: int, per_channel: bool) -> None:
    """Log-uniform scales: multipliers from 2**-30 (tiny shifts) to 16 (left shifts), random zero points."""
    rng = np.random.default_rng(100 + seed)
    log_m = rng.uniform(-30, 4, N if per_channel else 1)
    s_in, s_out = float(2.0 ** rng.uniform(-9, -1)), float(2.0 ** rng.uniform(-9, -1))
    s_w = (2.0**log_m * s_out / s_in).astype(np.float32)
    w = rng.integers(-127, 128, (N, K)).astype(np.int8)
    bias = rng.integers(-3000, 3000, N).astype(np.int32)
    p = dict(s_in=s_in, z_in=int(rng.integers(-128, 128)), s_w=s_w, w=w, bias=bias, s_out=s_out)
    p["z_out"] = int(rng.integers(-128, 128))
    big = 2.0 ** log_m.max() > 1  # keep |acc| small where the multiplier exceeds 1 (no int32 overflow)
    lo, hi = (p["z_in"] - 2, p["z_in"] + 2) if big else (-128, 127)
    xs = rng.integers(max(lo, -128), min(hi, 127) + 1, (200, B, K)).astype(np.int8)
    if big:
        p["bias"] = (bias // 64).astype(np.int32)
    flat = rewrite(per_channel, **p)
    for kernel in KERNELS:
        got, want = run(flat, xs, kernel), mirror(p, xs, kernel)
        assert np.array_equal(got, want), (kernel, int((got != want).sum()), got.size)


# --------------------------------------------------------------------------- the multipliers' formulas

ACC = np.arange(-16000, 15700, dtype=np.int64)  # the accumulators reach() can produce (z_in = 3, bias 0)
CLAIMS = {  # kernel -> per_channel -> (the order of M's operations claimed, the alternative it must beat)
    "optimized": {True: ("float64", "float32_product"), False: ("float32_product", "float64")},
    "reference": {True: ("float64", "float32_product"), False: ("float64", "float32_product")},
    "xnnpack": {True: ("float32", "float64_cast"), False: ("float32", "float64_cast")},
}


def candidate(kernel: str, arithmetic: str, s_in: float, s_w: float, s_out: float) -> np.ndarray:
    """One kernel's output on every accumulator of ACC (output zero point 0), M in the given order."""
    if arithmetic == "float64_cast":  # the double multiplier, then rounded to float32
        m = requantization_multiplier(s_in, s_w, s_out, arithmetic="float64").astype(np.float32)
    else:
        m = requantization_multiplier(s_in, s_w, s_out, arithmetic=arithmetic)
    if kernel == "optimized":
        q, s = quantize_multiplier(float(m))
        return requantize_fixed(ACC, q, s, 0, -128, 127, rounding="double_up")
    return requantize_float(
        ACC, m, 0, -128, 127, rounding="half_away" if kernel == "reference" else "half_even"
    )


def discriminating_scales(
    kernel: str, per_channel: bool, rng: np.random.Generator
) -> tuple[float, list[float], float, list[np.ndarray]]:
    """Scales where the claimed order and the alternative give different outputs, and those accumulators."""
    claim, alternative = CLAIMS[kernel][per_channel]
    s_in, s_out = (float(np.float32(2 ** rng.uniform(-8, -2))) for _ in range(2))
    s_w: list[float] = []
    accs: list[np.ndarray] = []
    for _ in range(20000):
        sw = float(np.float32(2 ** rng.uniform(-9, -7) * s_out / s_in))
        d = np.nonzero(
            candidate(kernel, claim, s_in, sw, s_out) != candidate(kernel, alternative, s_in, sw, s_out)
        )[0]
        if d.size:
            s_w.append(sw)
            accs.append(ACC[d[:4]])
            if len(s_w) == (N if per_channel else 1):
                return s_in, s_w, s_out, accs
    raise AssertionError("no discriminating scales found")


def reach(p: dict[str, Any], channel: int, accs: np.ndarray) -> np.ndarray:
    """Input rows whose accumulator in ``channel`` is each of ``accs`` (weight codes 127 and 1, bias 0)."""
    d0 = np.round(accs / 127).astype(np.int64)
    x = np.full((accs.size, K), p["z_in"], np.int64)
    x[:, 0] += d0
    x[:, 1] += accs - 127 * d0
    assert x.min() >= -128 and x.max() <= 127
    return x.astype(np.int8)


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("per_channel", [True, False], ids=["per-channel", "per-tensor"])
def test_the_order_of_the_multiplier_operations(kernel: str, per_channel: bool) -> None:
    """Each kernel's M = s_in s_w / s_out in its claimed order, against the alternative, where they differ."""
    rng = np.random.default_rng({"optimized": 10, "reference": 20, "xnnpack": 30}[kernel] + per_channel)
    s_in, s_w, s_out, accs = discriminating_scales(kernel, per_channel, rng)
    w = np.zeros((N, K), np.int8)
    w[:, 0], w[:, 1] = 127, 1
    channels = range(N) if per_channel else [0]
    sw = np.array(s_w if per_channel else s_w[:1], np.float32)
    p = dict(s_in=s_in, z_in=3, s_w=sw, w=w, bias=np.zeros(N, np.int32), s_out=s_out, z_out=0)
    rows = [reach(p, c, a) for c, a in zip(channels, accs, strict=True)]
    xs = np.concatenate(rows)
    xs = np.concatenate([xs, np.full(((-len(xs)) % B, K), 3, np.int8)])
    got = run(rewrite(per_channel, **p), xs, kernel)
    assert np.array_equal(got, mirror(p, xs, kernel))
    claim, alternative = CLAIMS[kernel][per_channel]
    start = 0
    for c, a in zip(channels, accs, strict=True):
        sl = slice(start, start + a.size)
        start += a.size
        idx = np.searchsorted(ACC, a)
        want = candidate(kernel, claim, s_in, float(sw[c if per_channel else 0]), s_out)[idx]
        other = candidate(kernel, alternative, s_in, float(sw[c if per_channel else 0]), s_out)[idx]
        assert np.array_equal(got[sl, c], want) and np.all(got[sl, c] != other), (c, got[sl, c], want, other)


@pytest.mark.parametrize("z_out", [0, -5, 100, -128])
def test_reference_kernel_beyond_int32_is_x86_64s_cast(z_out: int) -> None:
    """``round(double(acc) * M)`` past int32 (M = 2**20): C's cast is undefined; x86-64 gives ``-2**31``.

    Then the int32 sum with the output offset wraps (``-2**31 - 5`` is ``2**31 - 5``) and the clamp
    follows: a large positive value comes out as -128, or as 127 when ``z_out < 0``. Row 1 (x = 1,
    ``|acc M| = 2032 * 2**20 < 2**31``) stays in range. ruy (``"optimized"``) shifts ``acc`` left by 21
    in int32, which wraps: refquant raises there, as documented.
    """
    w = np.full((N, K), 127, np.int8)
    w[1::2] = -127
    p = dict(s_in=1.0, z_in=0, s_w=np.ones(N, np.float32), w=w, bias=np.zeros(N, np.int32), s_out=2.0**-20,
             z_out=z_out)  # fmt: skip
    xs = np.zeros((4 * B, K), np.int8)
    xs[0::4], xs[1::4], xs[2::4] = 100, 1, -100
    got = run(rewrite(True, **p), xs, "reference")
    assert np.array_equal(got, mirror(p, xs, "reference"))
    sign = np.sign(xs[:, :1].astype(np.int64)) * np.sign(w[:, 0].astype(np.int64))[None, :]
    sat = np.clip(sign * 2**40 + z_out, -128, 127)  # a clamp of the real value (every |acc M| > 127)
    assert np.any(got != sat)  # not saturation: the test tells x86-64's cast from a clamp of the real value
    with pytest.raises(ValueError, match="must fit int32"):
        mirror(p, xs, "optimized")


@pytest.mark.parametrize("s_out", [1 / 255.99, 2.0**-8, 2.0**-20])
@pytest.mark.parametrize("per_channel", [True, False])
def test_xnnpack_refuses_a_requantization_scale_of_256(s_out: float, per_channel: bool) -> None:
    w = np.zeros((N, K), np.int8)
    w[:, 0] = 1
    s_w: Any = np.ones(N, np.float32) if per_channel else np.float32(1.0)
    p = dict(s_in=1.0, z_in=0, s_w=s_w, w=w, bias=np.zeros(N, np.int32), s_out=s_out, z_out=0)
    xs = np.zeros((B, K), np.int8)
    xs[:, 0] = np.arange(B) - 4
    flat = rewrite(per_channel, **p)
    if 1 / s_out < 256:
        assert np.array_equal(run(flat, xs, "xnnpack"), mirror(p, xs, "xnnpack"))
        return
    with pytest.raises(RuntimeError, match="XNNPACK"):
        run(flat, xs, "xnnpack")
    with pytest.raises(ValueError, match="below 256"):
        mirror(p, xs, "xnnpack")
    assert np.array_equal(run(flat, xs, "reference"), mirror(p, xs, "reference"))
