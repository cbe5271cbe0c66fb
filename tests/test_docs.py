"""The docs: the check_vjp reports in docs/errata.md are what the code prints; the pages read offline."""

from __future__ import annotations

import importlib.metadata
import importlib.util
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
