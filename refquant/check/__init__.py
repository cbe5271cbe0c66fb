"""The oracle: check another implementation against refquant, and say why it differs.

* :func:`compare`, :func:`assert_quantized_equal`, :func:`assert_float_close`
  -- element-wise comparison in LSB (codes) or exact ULP (float16, bfloat16,
  float32, float64 and the low-precision grids), with the worst elements and
  their inputs; :func:`coverage` says which semantic knobs an input set can
  tell apart, and the checks warn (:class:`CoverageWarning`) when it could
  not have caught a rounding or op-order difference;
* :func:`diagnose_quantize`, :func:`diagnose_cast`, :func:`diagnose_mask`,
  :func:`diagnose_vjp` -- the settings of refquant's knobs (or the named
  implementation slip) that reproduce an implementation's output exactly, and
  the known systems that use them (:class:`Diagnosis`);
* :mod:`refquant.check.inputs` -- tie-dense inputs for a given quantizer,
  float format or pruning rule, as plain NumPy functions; the same as
  hypothesis strategies in :mod:`refquant.check.strategies`;
* :mod:`refquant.check.ops` -- the ops ``refquant check`` and ``refquant
  vectors`` know (:func:`check_case`, :func:`make_case`);
* :func:`check_vjp`, :func:`check_vjp_against` -- hand-written backward passes
  against central differences or a reference backward;
* :mod:`refquant.check.hostile` and :mod:`refquant.check.hostile_params` --
  hostile values (NaN, subnormals, bad scales, zero points, ranges, amounts,
  axes, block sizes, views and dtypes) as plain lists, NumPy only.

:mod:`refquant.check.strategies` is loaded on first access, so that importing
:mod:`refquant.check` does not import hypothesis.
"""

from refquant.check.compare import Comparison, Mismatch, assert_float_close, assert_quantized_equal, compare
from refquant.check.coverage import Coverage, CoverageWarning, coverage
from refquant.check.diagnose import SYSTEMS, diagnose_quantize
from refquant.check.diagnose_cast import diagnose_cast
from refquant.check.diagnose_mask import diagnose_mask
from refquant.check.diagnose_vjp import diagnose_vjp
from refquant.check.diagnosis import Diagnosis
from refquant.check.gradcheck import ArgumentCheck, GradcheckResult, check_vjp, check_vjp_against
from refquant.check.inputs import (
    awkward_scales,
    cast_input_classes,
    cast_inputs,
    mask_inputs,
    nm_inputs,
    quant_params,
    quantize_input_classes,
    quantize_inputs,
)
from refquant.check.ops import OPS, CaseError, CaseResult, CheckOp, OpArg, check_case, get_op, make_case

__all__ = [
    "OPS",
    "SYSTEMS",
    "ArgumentCheck",
    "CaseError",
    "CaseResult",
    "CheckOp",
    "Comparison",
    "Coverage",
    "CoverageWarning",
    "Diagnosis",
    "GradcheckResult",
    "Mismatch",
    "OpArg",
    "assert_float_close",
    "assert_quantized_equal",
    "awkward_scales",
    "cast_input_classes",
    "cast_inputs",
    "check_case",
    "check_vjp",
    "check_vjp_against",
    "compare",
    "coverage",
    "diagnose_cast",
    "diagnose_mask",
    "diagnose_quantize",
    "diagnose_vjp",
    "get_op",
    "make_case",
    "mask_inputs",
    "nm_inputs",
    "quant_params",
    "quantize_input_classes",
    "quantize_inputs",
]


def __getattr__(name: str) -> object:
    """Load :mod:`refquant.check.strategies` (hypothesis, a test dependency) on first use."""
    if name == "strategies":
        import importlib

        return importlib.import_module("refquant.check.strategies")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
