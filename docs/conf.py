"""Sphinx configuration for refquant (MyST and notebooks via myst-nb, bundled MathJax, numpydoc, furo)."""

from __future__ import annotations

import importlib.metadata
import shutil
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # document the source tree, installed or not

import refquant  # noqa: E402

project = "refquant"
author = "refquant contributors"
copyright = "refquant contributors"
release = refquant.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "myst_nb",  # MyST Markdown (it includes myst-parser) and the notebooks, executed
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",
    "numpydoc",
]

root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "**/.ipynb_checkpoints"]

# MyST: $...$ and $$...$$ math, \begin{align} environments, anchors for headings.
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3

# Notebooks: docs/notebooks is a link to ../notebooks, whose files are stored
# without outputs. Every build runs them again (as CI's nbmake does), so the
# pages show what the code computes today; an error in a cell fails the build.
nb_execution_mode = "force"
nb_execution_timeout = 600
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_merge_streams = True
nb_ipywidgets_js: dict[str, dict[str, str]] = {}  # no widgets; nothing from a CDN

# MathJax 3, served from the build itself, not a CDN: the pages read offline.
# The files come from the sphinx-mathjax-offline wheel (the docs extra); only
# what tex-chtml.js loads is copied (see _copy_mathjax below).
mathjax_path = "mathjax/tex-chtml.js"
MATHJAX_PARTS = ("tex-chtml.js", "input", "output", "ui", "a11y", "sre", "adaptors")


def bundled_mathjax() -> Path:
    """The directory of MathJax 3 inside the installed sphinx-mathjax-offline."""
    dist = importlib.metadata.distribution("sphinx-mathjax-offline")
    path = Path(str(dist.locate_file("sphinx-mathjax-offline/static/mathjax")))
    if not (path / "tex-chtml.js").is_file():
        raise FileNotFoundError(f"no tex-chtml.js in {path}: reinstall the docs extra")
    return path


# autodoc: members in source order, signatures with type hints.
autodoc_default_options = {"members": True, "member-order": "bysource"}
autodoc_typehints = "signature"
autodoc_preserve_defaults = True

# numpydoc: no autosummary member tables (they need stub pages) and no
# docstring validation, so that the build (run with -W) stays warning-free.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_validation_checks: set[str] = set()
numpydoc_xref_param_type = False

html_theme = "furo"
html_title = f"refquant {release}"
html_static_path = ["_static"]
html_css_files = ["refquant.css"]  # readable wide tables (docs/_static/refquant.css)


def _copy_mathjax(app: Any, exc: Exception | None) -> None:
    if exc is not None or app.builder.format != "html":
        return
    source, target = bundled_mathjax(), Path(app.outdir) / "_static" / "mathjax"
    for part in MATHJAX_PARTS:
        if (source / part).is_dir():
            shutil.copytree(source / part, target / part, dirs_exist_ok=True)
        else:
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / part, target / part)


def _resolve_public_alias(app: Any, env: Any, node: Any, contnode: Any) -> Any:
    """Resolve a reference to a re-exported name to the one place the object is documented.

    Each object is documented once, under the module that defines it
    (``refquant.check.gradcheck.check_vjp``); docstrings and pages also name it
    as users import it (``refquant.check.check_vjp``, or ``check_vjp`` inside
    ``refquant.check``). Such a reference resolves to the unique documented
    object of that name below the namespace it names (or, if there is none,
    below the nearest namespace above it).
    """
    if node.get("refdomain") != "py":
        return None
    target = node["reftarget"]
    module = node.get("py:module")
    candidates = [target] if target.startswith("refquant.") else []
    if module:
        candidates.insert(0, f"{module}.{target}")
    domain = env.get_domain("py")
    for name in candidates:
        prefix, _, last = name.rpartition(".")
        while prefix.startswith("refquant"):  # the namespace named, then the ones above it
            matches = [k for k in domain.objects if k.startswith(prefix + ".") and k.endswith("." + last)]
            if len(matches) == 1:
                return domain.resolve_xref(
                    env, node["refdoc"], app.builder, node["reftype"], matches[0], node, contnode
                )
            if matches:
                break  # ambiguous: leave it unresolved rather than guess
            prefix = prefix.rpartition(".")[0]
    return None


def setup(app: Any) -> None:
    bundled_mathjax()  # fail at the start, not after the build, if it is missing
    app.connect("build-finished", _copy_mathjax)
    app.connect("missing-reference", _resolve_public_alias)
