"""saturating_pair_matmul against a compiled AVX2 kernel: ``vpmaddubsw``, ``vpmaddwd`` with ones, ``vpaddd``.

``tests/integer/c/maddubs_gemm.c`` computes the u8 x s8 GEMM the way ONNX
Runtime's MLAS U8S8 AVX2 kernel does (K padded to quads, B packed 4 rows by
8 columns, four bytes of A broadcast, the zero-point terms in the initial
accumulators, wrapping int32 arithmetic). It is compiled here with ``cc -O2
-mavx2`` and run on saturation-dense random inputs and on adversarial ones
(codes at 255 against -128 and 127, odd K, N not a multiple of 8, zero points,
an int32 overflow); its int32 output must be bit-identical with
:func:`refquant.integer.saturating_pair_matmul` (``overflow="wrap"``, which is
what the hardware does). Skipped when no ``cc`` is on the PATH, the program
does not compile, or the CPU lacks AVX2.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from refquant.integer import integer_matmul, saturated_pairs, saturating_pair_matmul

SOURCE = Path(__file__).parent / "c" / "maddubs_gemm.c"
U8, I8 = np.uint8, np.int8


def _cpu_has_avx2() -> bool:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return any(line.startswith("flags") and " avx2" in f"{line} " for line in text.splitlines())


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cc = shutil.which("cc")
    if cc is None:
        pytest.skip("no C compiler: cc is not on the PATH")
    if not _cpu_has_avx2():
        pytest.skip("the CPU does not report avx2 in /proc/cpuinfo")
    exe = tmp_path_factory.mktemp("maddubs") / "maddubs_gemm"
    cmd = [cc, "-O2", "-mavx2", "-std=c99", "-Wall", "-Wextra", str(SOURCE), "-o", str(exe)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"{' '.join(cmd)} failed:\n{done.stderr}")
    return exe


def run(exe: Path, a: np.ndarray, b: np.ndarray, za: int, zb: object) -> np.ndarray:
    m, k = a.shape
    n = b.shape[1]
    zbs = np.broadcast_to(np.asarray(zb, np.int64), (n,)).astype("<i4")
    blob = np.array([m, k, n, za], "<i4").tobytes() + zbs.tobytes() + a.tobytes() + b.tobytes()
    done = subprocess.run([str(exe)], input=blob, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()
    return np.frombuffer(done.stdout, "<i4").reshape(m, n)


def dense(rng: np.random.Generator, shape: tuple[int, int], values: list[int], dtype: type) -> np.ndarray:
    """Mostly extreme codes, some uniform ones."""
    x = rng.choice(np.array(values, dtype), shape)
    uniform = rng.random(shape) < 0.2
    info = np.iinfo(dtype)
    x[uniform] = rng.integers(int(info.min), int(info.max) + 1, int(uniform.sum()))
    return x


CASES = [  # (M, K, N, a_zero_point, b_zero_point): K odd, K % 4 != 0, N % 8 != 0
    (1, 1, 1, 0, 0),
    (3, 2, 5, 0, 0),
    (4, 3, 8, 0, 0),
    (5, 7, 9, 128, 0),
    (7, 16, 16, 0, -1),
    (6, 33, 17, 255, 127),
    (9, 130, 23, 3, "per-column"),
    (16, 257, 40, 200, -128),
]


@pytest.mark.parametrize("case", CASES, ids=[f"{m}x{k}x{n}" for m, k, n, *_ in CASES])
def test_random_saturation_dense_inputs_are_bit_identical(kernel: Path, case: tuple) -> None:
    m, k, n, za, zb = case
    rng = np.random.default_rng(m * 1000 + k)
    if zb == "per-column":
        zb = rng.integers(-128, 128, n).tolist()
    a = dense(rng, (m, k), [0, 1, 127, 128, 200, 254, 255], U8)
    b = dense(rng, (k, n), [-128, -127, -64, 0, 63, 126, 127], I8)
    got = run(kernel, a, b, za, zb)
    want = saturating_pair_matmul(a, b, za, zb, overflow="wrap")
    assert np.array_equal(got, want)
    if k >= 2:  # not vacuous: the exact result differs where pairs saturate
        assert saturated_pairs(a, b).any()
        assert not np.array_equal(got, integer_matmul(a, b, za, zb))


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5, 31, 64, 127])
@pytest.mark.parametrize("b_value", [-128, 127, 64, -65])
def test_adversarial_constant_operands(kernel: Path, k: int, b_value: int) -> None:
    a = np.full((3, k), 255, U8)
    a[1] = 128
    a[2, ::2] = 0  # every pair holds one zero: never saturates
    b = np.full((k, 11), b_value, I8)
    b[:, 5] = -b_value - 1 if b_value > -128 else 127  # the opposite sign in column 5
    for za, zb in [(0, 0), (255, -128), (7, [int(v) for v in range(-5, 6)])]:
        got = run(kernel, a, b, za, zb)
        assert np.array_equal(got, saturating_pair_matmul(a, b, za, zb, overflow="wrap"))
    # by hand for row 0, column 0 and zero points 0: k // 2 pairs of 2 * 255 * b, then a lone 255 * b
    pair_sum = max(-32768, min(32767, 2 * 255 * b_value))
    assert run(kernel, a, b, 0, 0)[0, 0] == (k // 2) * pair_sum + (k % 2) * 255 * b_value


def test_the_boundary_pairs(kernel: Path) -> None:
    # 32767 reached, 32768 clipped; -32768 reached, -32769 clipped (as in test_pairs.py, by hand)
    a = np.array([[255, 191], [254, 191], [128, 128], [128, 145]], U8)
    b = np.array([[127, 126, -128, -128], [2, 4, -128, -113]], I8)
    got = run(kernel, a, b, 0, 0)
    diagonal = [int(got[i, i]) for i in range(4)]
    assert diagonal == [32767, 32767, -32768, -32768]
    assert np.array_equal(got, saturating_pair_matmul(a, b))


def test_int32_overflow_wraps_like_the_model(kernel: Path) -> None:
    k = 131074  # 65537 pairs of -32768: -2**31 - 32768, wrapped to 2**31 - 32768
    a, b = np.full((2, k), 255, U8), np.full((k, 3), -128, I8)
    b[:, 1] = 127  # 65537 * 32767 = 2147450879: still within int32
    got = run(kernel, a, b, 0, 0)
    assert got[0].tolist() == [2**31 - 32768, 65537 * 32767, 2**31 - 32768]
    assert np.array_equal(got, saturating_pair_matmul(a, b, overflow="wrap"))
    with pytest.raises(ValueError, match="wrap"):
        saturating_pair_matmul(a, b)
