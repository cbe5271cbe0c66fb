"""The docs: errata reports are what the code prints; the pages read offline; the Number formats page."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re
import runpy
from pathlib import Path

import numpy as np
import pytest

from refquant.check import check_vjp
from refquant.grad.normalize import minmax_normalize, minmax_normalize_vjp

ERRATA = Path(__file__).resolve().parents[1] / "docs" / "errata.md"


def _report(vjp) -> str:
    x = np.random.default_rng(0).standard_normal((5, 5))
    try:
        return str(check_vjp(minmax_normalize, vjp, (x,)))
    except AssertionError as exc:
        return str(exc)


@pytest.mark.parametrize(
    "vjp",
    [
        lambda g, x: g * (x.max() - x.min()),
        lambda g, x: minmax_normalize_vjp(g, x, through_range=False),
        minmax_normalize_vjp,
    ],
    ids=["seed", "constant-range", "exact"],
)
def test_errata_reports_are_current(vjp) -> None:
    assert _report(vjp) in ERRATA.read_text(encoding="utf-8")


# The docs read offline: MathJax is served from the build, no page fetches from the network.

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _check_offline():
    spec = importlib.util.spec_from_file_location("check_offline", DOCS / "check_offline.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_conf_serves_mathjax_locally() -> None:
    conf = runpy.run_path(str(DOCS / "conf.py"))  # no Sphinx needed: conf.py only sets values
    path = conf["mathjax_path"]
    assert "//" not in path and not path.startswith("/"), path  # relative to _static, no CDN
    assert conf["nb_ipywidgets_js"] == {}  # myst-nb's default loads require.js from a CDN
    try:
        bundled = conf["bundled_mathjax"]()
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("sphinx-mathjax-offline (the docs extra) is not installed")
    assert (bundled / Path(path).relative_to("mathjax")).is_file()
    for part in conf["MATHJAX_PARTS"]:
        assert (bundled / part).exists(), part


def test_check_offline_flags_external_fetches(tmp_path: Path) -> None:
    check = _check_offline()
    (tmp_path / "_static" / "mathjax").mkdir(parents=True)
    (tmp_path / "_static" / "mathjax" / "tex-chtml.js").write_text("", encoding="utf-8")
    (tmp_path / "ok.html").write_text(
        '<html><head><script defer src="_static/mathjax/tex-chtml.js"></script>'
        '<link rel="stylesheet" href="_static/furo.css"><link rel="canonical" href="https://x.org/">'
        '</head><body><a href="https://example.org/">a link is fine</a><img src="_images/a.png">'
        "</body></html>",
        encoding="utf-8",
    )
    assert check.external_fetches(tmp_path) == {}
    assert check.main([str(tmp_path)]) == 0
    (tmp_path / "bad.html").write_text(
        '<script src="https://cdn.jsdelivr.net/npm/mathjax@4/tex-mml-chtml.js"></script>'
        '<link rel="stylesheet" href="//fonts.example.com/a.css"><style>@import "http://x.org/b.css";</style>'
        '<div style="background: url(https://x.org/i.png)"></div>',
        encoding="utf-8",
    )
    (tmp_path / "_static" / "bad.css").write_text(
        "a { background: url('https://x.org/c.png') }", encoding="utf-8"
    )
    problems = check.external_fetches(tmp_path)
    assert len(problems["bad.html"]) == 4 and len(problems[str(Path("_static") / "bad.css")]) == 1
    assert check.main([str(tmp_path)]) == 1


def test_built_html_is_offline() -> None:
    html = DOCS / "_build" / "html"
    if not (html / "index.html").is_file():
        pytest.skip("docs not built (make docs builds them and runs docs/check_offline.py)")
    assert _check_offline().external_fetches(html) == {}


# The "Number formats" page (docs/spec/formats.md): in the toctree, one spec-table row per format,
# and what it says of PyTorch's float8 casts holds for the installed torch.

FORMATS_PAGE = DOCS / "spec" / "formats.md"


def _code_cells(page: Path) -> list[str]:
    text = page.read_text(encoding="utf-8")
    cells = re.findall(r"^```\{code-cell\} ipython3\n(.*?)^```$", text, re.S | re.M)
    return ["\n".join(line for line in c.splitlines() if not line.startswith(":tags:")) for c in cells]


def test_formats_page_is_in_the_specification_toctree() -> None:
    index = (DOCS / "index.md").read_text(encoding="utf-8")
    toctrees = re.findall(r"```\{toctree\}\n(.*?)```", index, re.S)
    spec = next(t for t in toctrees if "spec/affine" in t)
    entries = [line.strip() for line in spec.splitlines() if line.strip() and not line.startswith(":")]
    assert "spec/formats" in entries and entries.index("spec/formats") == entries.index("spec/pruning") + 1


def test_formats_page_spec_table_has_one_row_per_format() -> None:
    pytest.importorskip("matplotlib")
    pytest.importorskip("IPython")
    import matplotlib

    matplotlib.use("Agg")
    from refquant.floats import FLOAT_FORMATS

    setup, spec_table = _code_cells(FORMATS_PAGE)[:2]
    shown: list[str] = []
    ns: dict[str, object] = {}
    exec(compile(setup, "formats.md setup cell", "exec"), ns)  # the page's own code
    ns["display"] = lambda obj: shown.append(obj.data)
    exec(compile(spec_table, "formats.md spec table cell", "exec"), ns)
    (markdown,) = shown
    lines = markdown.splitlines()
    assert lines[0].startswith("| format |") and set(lines[1]) <= set("|-")
    names = [line.split("|")[1].strip().strip("`") for line in lines[2:]]
    assert names == list(FLOAT_FORMATS)
    for line, f in zip(lines[2:], FLOAT_FORMATS.values(), strict=True):
        cells = [c.strip() for c in line.split("|")[1:-1]]
        assert cells[1:5] == [str(f.bits), str(f.exponent_bits), str(f.mantissa_bits), str(f.bias)]
        assert float(cells[5]) == pytest.approx(f.max_finite, rel=1e-5)  # printed with 6 digits


def _same(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a.view(np.uint64) == b.view(np.uint64)) | (np.isnan(a) & np.isnan(b))


def test_formats_page_torch_float8_claims() -> None:
    """The page: torch saturates e4m3fn (as ONNX saturate=1), lets e5m2 overflow to inf
    (as ml_dtypes), and converts float64 through float32 (two roundings)."""
    torch = pytest.importorskip("torch")
    from refquant.floats import FLOAT_FORMATS, cast

    rng = np.random.default_rng(0)
    n = 50_000
    x32 = (rng.standard_normal(n) * 2.0 ** rng.integers(-24, 24, n)).astype(np.float32)
    x32 = np.concatenate([x32, np.float32([np.inf, -np.inf, np.nan, 0.0, -0.0, 1000.0, -70000.0])])
    for name, saturate in (("float8_e4m3fn", True), ("float8_e5m2", False)):
        got = torch.from_numpy(x32).to(getattr(torch, name)).double().numpy()
        want = cast(x32, name, saturate=saturate).astype(np.float64)
        assert _same(got, want).all(), name
        assert not _same(got, cast(x32, name, saturate=not saturate).astype(np.float64)).all(), name
        # float64 just off the midpoints of the grid: direct rounding and rounding through float32 differ
        m = FLOAT_FORMATS[name].mantissa_bits
        grid = cast(rng.standard_normal(n) * 2.0 ** rng.integers(-6, 6, n), name, saturate=True)
        x64 = grid * (1 + 2.0 ** -(m + 1) + rng.choice([-1.0, 1.0], n) * 2.0**-40)
        got64 = torch.from_numpy(x64).to(getattr(torch, name)).double().numpy()
        assert _same(got64, cast(x64.astype(np.float32), name, saturate=saturate).astype(np.float64)).all()
        assert not _same(got64, cast(x64, name, saturate=saturate)).all()
