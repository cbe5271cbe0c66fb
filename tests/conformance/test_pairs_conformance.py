"""refquant.integer.saturating_pair_matmul against PyTorch's FBGEMM, forced onto its AVX2 and AVX-512 kernels.

FBGEMM picks its u8 x s8 GEMM kernel from the CPU at run time, and honours
``FBGEMM_ENABLE_INSTRUCTIONS`` (``AVX2``, ``AVX512``, ``AVX512_E1`` = VNNI;
``fbgemmEnvGetIsa`` in FBGEMM's ``src/Utils.cc``). Each ISA runs in its own
subprocess (the variable is read once): ``torch.ops.quantized.linear_with_input_q_dq_qweight_dq_output_fp32``
with scales 1 and no bias returns the zero-point-corrected int32 accumulator
as float32, exact while every value is below ``2**24`` (checked here). The
AVX2 and AVX-512 (BW, no VNNI) kernels, built on ``vpmaddubsw``, must equal
:func:`saturating_pair_matmul` bit for bit; the VNNI kernel (``vpdpbusd``)
must equal the exact :func:`~refquant.integer.integer_matmul`. Each ISA is
skipped when the CPU does not report it (/proc/cpuinfo) or torch lacks FBGEMM.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from refquant.integer import integer_matmul, saturated_pairs, saturating_pair_matmul

if importlib.util.find_spec("torch") is None:
    pytest.skip("torch is not installed", allow_module_level=True)

U8, I8 = np.uint8, np.int8
WORKER = """
import sys, warnings
warnings.simplefilter("ignore")
import numpy as np, torch
if "fbgemm" not in torch.backends.quantized.supported_engines:
    sys.exit(3)
torch.backends.quantized.engine = "fbgemm"
cases = np.load(sys.argv[1])
out = {}
for i in range(int(cases["count"])):
    a, b, za, zb = (cases[f"{n}{i}"] for n in ("a", "b", "za", "zb"))
    x = torch.from_numpy(a.astype(np.float32) - np.float32(za))  # quantized with scale 1 and za: a
    w = torch.from_numpy((b.T.astype(np.float32) - zb.astype(np.float32)[:, None]).copy())
    if zb.size > 1:
        ones = torch.ones(zb.size, dtype=torch.double)
        wq = torch.quantize_per_channel(w, ones, torch.from_numpy(zb), 0, torch.qint8)
    else:
        wq = torch.quantize_per_tensor(w, 1.0, int(zb[0]), torch.qint8)
    assert np.array_equal(wq.int_repr().numpy().T, b)
    packed = torch.ops.quantized.linear_prepack(wq, None)
    y = torch.ops.quantized.linear_with_input_q_dq_qweight_dq_output_fp32(x, 1.0, int(za), packed)
    out[f"y{i}"] = y.numpy()
np.savez(sys.argv[2], **out)
"""
ISAS = {"AVX2": ("avx2",), "AVX512": ("avx512bw",), "AVX512_E1": ("avx512bw", "avx512_vnni")}
SHAPES = [  # (M, K, N, a_zero_point, b_zero_point or "per-channel"); odd K, K past FBGEMM's blocks
    (1, 64, 16, 3, 0),
    (3, 8, 4, 0, 0),
    (2, 1, 3, 0, 0),
    (5, 37, 9, 17, 5),
    (4, 300, 20, 0, "per-channel"),
    (7, 513, 33, 2, 0),
    (24, 127, 70, 255, -7),
    (6, 1030, 5, 0, 0),
]


def _flags() -> set[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def _cases() -> list[tuple[np.ndarray, np.ndarray, int, Any]]:
    rng = np.random.default_rng(2024)
    out = []
    for m, k, n, za, zb in SHAPES:
        a = rng.choice(np.array([0, 1, 127, 128, 200, 254, 255], U8), (m, k))
        b = rng.choice(np.array([-128, -127, -64, 0, 63, 126, 127], I8), (k, n))
        uniform = rng.random((m, k)) < 0.2
        a[uniform] = rng.integers(0, 256, int(uniform.sum()))
        zbs = rng.integers(-20, 21, n).tolist() if zb == "per-channel" else zb
        out.append((a, b, za, zbs))
    return out


@pytest.fixture(scope="module")
def fbgemm(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[np.ndarray] | str]:
    """Each ISA's outputs for :func:`_cases`, or the reason it did not run."""
    root = tmp_path_factory.mktemp("fbgemm")
    cases = _cases()
    blob: dict[str, Any] = {"count": len(cases)}
    for i, (a, b, za, zb) in enumerate(cases):
        blob |= {f"a{i}": a, f"b{i}": b, f"za{i}": np.int64(za), f"zb{i}": np.atleast_1d(np.int64(zb))}
    np.savez(root / "cases.npz", **blob)
    flags, procs, results = _flags(), {}, {}
    for isa, need in ISAS.items():
        if not set(need) <= flags:
            results[isa] = f"the CPU does not report {', '.join(need)}"
            continue
        env = {**os.environ, "FBGEMM_ENABLE_INSTRUCTIONS": isa}
        cmd = [sys.executable, "-c", WORKER, str(root / "cases.npz"), str(root / f"{isa}.npz")]
        procs[isa] = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for isa, p in procs.items():
        _, err = p.communicate(timeout=300)
        if p.returncode == 3:
            results[isa] = "torch has no fbgemm quantized engine"
        elif p.returncode != 0:
            results[isa] = f"the worker failed:\n{err[-2000:]}"
        else:
            got = np.load(root / f"{isa}.npz")
            results[isa] = [got[f"y{i}"] for i in range(len(cases))]
    return results


def _outputs(fbgemm: dict[str, Any], isa: str) -> list[np.ndarray]:
    got = fbgemm[isa]
    if isinstance(got, str):
        if got.startswith("the worker failed"):
            pytest.fail(got)
        pytest.skip(got)
    return list(got)


@pytest.mark.parametrize("isa", ["AVX2", "AVX512"])
def test_fbgemm_without_vnni_is_the_saturating_model(fbgemm: dict[str, Any], isa: str) -> None:
    differ = 0
    for (a, b, za, zb), y in zip(_cases(), _outputs(fbgemm, isa), strict=True):
        want = saturating_pair_matmul(a, b, za, zb)
        exact = integer_matmul(a, b, za, zb)
        assert max(np.abs(want).max(), np.abs(exact).max()) < 2**24  # float32 holds them exactly
        assert y.dtype == np.float32 and np.array_equal(y, want.astype(np.float32)), (a.shape, b.shape)
        differ += int(np.count_nonzero(want != exact))
        assert not np.any((want != exact) & (saturated_pairs(a, b) == 0))
    assert differ > 500  # saturation-dense inputs: most outputs depart from the exact sums


def test_fbgemm_with_vnni_is_exact(fbgemm: dict[str, Any]) -> None:
    for (a, b, za, zb), y in zip(_cases(), _outputs(fbgemm, "AVX512_E1"), strict=True):
        exact = integer_matmul(a, b, za, zb)
        assert np.abs(exact).max() < 2**24
        assert np.array_equal(y, exact.astype(np.float32)), (a.shape, b.shape)
