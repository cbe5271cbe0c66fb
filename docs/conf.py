"""Sphinx configuration for refquant (MyST Markdown, MathJax, autodoc + numpydoc, furo)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # document the source tree, installed or not

import refquant  # noqa: E402

project = "refquant"
author = "refquant contributors"
copyright = "refquant contributors"
release = refquant.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",
    "numpydoc",
]

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]

# MyST: $...$ and $$...$$ math, \begin{align} environments, anchors for headings.
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3

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
