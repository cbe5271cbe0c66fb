"""KL-entropy calibration: refquant against ModelOpt's ``_compute_amax_entropy`` and ONNX Runtime's
``HistogramCollector.get_entropy_threshold``, as ratios in the same run, with the answers' equality."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import best_time

from refquant.calibrate.entropy import entropy_amax, entropy_range


def main() -> None:
    """Print peer time / refquant time for each case and whether the answers are identical."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=200_000).astype(np.float32)
    counts, edges = np.histogram(np.abs(x), bins=2048)
    try:
        from modelopt.torch.quantization.calib.histogram import _compute_amax_entropy
    except ImportError:
        print("modelopt not installed: skipped")
    else:
        peer = best_time(lambda: _compute_amax_entropy(counts.copy(), edges, 8, False, 1, 128), 1)
        ours = best_time(lambda: entropy_amax(counts, edges), 5)
        same = float(_compute_amax_entropy(counts.copy(), edges, 8, False, 1, 128)) == float(
            entropy_amax(counts, edges)
        )
        print(
            f"entropy_amax 2048 bins vs modelopt: {peer / ours:7.1f}x faster"
            f" ({peer:.3f} s / {ours * 1e3:.1f} ms), same: {same}"
        )
    try:
        from onnxruntime.quantization.calibrate import HistogramCollector
    except ImportError:
        print("onnxruntime not installed: skipped")
        return
    shapes = {
        "gaussian": x,
        "laplace": rng.laplace(size=200_000).astype(np.float32),
        "relu": np.maximum(rng.normal(size=200_000), 0).astype(np.float32),
        "student-t2": rng.standard_t(2, size=200_000).astype(np.float32),
    }
    for nb in (2048, 128):
        for name, data in shapes.items():
            hc = HistogramCollector("entropy", True, nb, 128, None, None)
            hc.collect_value({"t": data})
            h = hc.histogram_dict["t"]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                peer = best_time(lambda: hc.get_entropy_threshold(h, 128), 1 if nb > 128 else 20)  # noqa: B023
                ref = hc.get_entropy_threshold(h, 128)
            ours = best_time(lambda: entropy_range(h[0], h[1], min_value=h[2], max_value=h[3]), 20)  # noqa: B023
            got = entropy_range(h[0], h[1], min_value=h[2], max_value=h[3])
            same = (np.float32(ref[0]).tobytes(), np.float32(ref[1]).tobytes()) == (
                got[0].tobytes(),
                got[1].tobytes(),
            )
            print(
                f"entropy_range {nb} bins {name:10s} vs onnxruntime: {peer / ours:7.1f}x faster"
                f" ({peer * 1e3:.1f} ms / {ours * 1e3:.2f} ms), same: {same}"
            )


if __name__ == "__main__":
    main()
