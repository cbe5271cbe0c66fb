"""Fail if a built HTML page loads a script, stylesheet, font or image from the network.

Usage: ``python docs/check_offline.py docs/_build/html`` (``make docs`` runs it
after ``sphinx-build``). The pages must read offline: MathJax is served from
``_static/mathjax``, the notebooks' figures are embedded. Links a reader
follows (``<a href="https://...">``) are allowed; what a browser fetches by
itself is not: ``<script src>``, ``<link href>`` (stylesheets, preloads,
icons), ``<img src>``, ``<iframe src>``, ``<source src>``, CSS ``url(...)``
and ``@import`` in the built stylesheets, and the location of MathJax itself.
"""

from __future__ import annotations

import re
import sys
from html.parser import HTMLParser
from pathlib import Path

EXTERNAL = re.compile(r"^\s*(?:[a-z][a-z0-9+.-]*:)?//", re.IGNORECASE)  # http:, https:, //host
# The attribute each element fetches by itself (for <link>, unless its rel is only a relation).
FETCHED = {
    "script": "src",
    "img": "src",
    "iframe": "src",
    "source": "src",
    "embed": "src",
    "audio": "src",
    "video": "src",
    "link": "href",
}
RELATIONS = {"canonical", "alternate", "next", "prev", "search", "index", "author", "license", "help"}
CSS_URL = re.compile(r"""(?:url\(\s*['"]?|@import\s+['"])([^'")\s]+)""", re.IGNORECASE)


class _Fetches(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "style":
            self._in_style = True
        if tag == "link" and (values.get("rel") or "").lower() in RELATIONS:
            return  # a link a reader follows, not a fetch
        attr = FETCHED.get(tag)
        url = values.get(attr) if attr else None
        if url and EXTERNAL.match(url):
            self.found.append(f"<{tag} {attr}={url!r}>")
        if values.get("style"):
            self.found += [
                f"style url({u})" for u in CSS_URL.findall(values["style"] or "") if EXTERNAL.match(u)
            ]

    def handle_endtag(self, tag: str) -> None:
        if tag == "style":
            self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.found += [f"<style> url({u})" for u in CSS_URL.findall(data) if EXTERNAL.match(u)]


def external_fetches(html_dir: Path) -> dict[str, list[str]]:
    """Map each page or stylesheet under ``html_dir`` that fetches from the network to what it fetches."""
    problems: dict[str, list[str]] = {}
    for page in sorted(html_dir.rglob("*.html")):
        parser = _Fetches()
        parser.feed(page.read_text(encoding="utf-8", errors="replace"))
        if parser.found:
            problems[str(page.relative_to(html_dir))] = parser.found
    for sheet in sorted(html_dir.rglob("*.css")):
        text = sheet.read_text(encoding="utf-8", errors="replace")
        found = [f"url({u})" for u in CSS_URL.findall(text) if EXTERNAL.match(u)]
        if found:
            problems[str(sheet.relative_to(html_dir))] = found
    return problems


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: check_offline.py HTML_DIR", file=sys.stderr)
        return 2
    html_dir = Path(argv[0])
    pages = list(html_dir.rglob("*.html"))
    if not pages:
        print(f"check_offline: no HTML pages under {html_dir}", file=sys.stderr)
        return 1
    mathjax = html_dir / "_static" / "mathjax" / "tex-chtml.js"
    problems = external_fetches(html_dir)
    if not mathjax.is_file():
        problems["_static/mathjax"] = ["tex-chtml.js is missing: the maths would not render"]
    for name, found in problems.items():
        for item in found:
            print(f"check_offline: {name}: fetches {item}", file=sys.stderr)
    if problems:
        return 1
    math_pages = sum("mathjax/tex-chtml.js" in p.read_text(encoding="utf-8", errors="replace") for p in pages)
    print(f"check_offline: {len(pages)} pages, none fetches from the network;", end=" ")
    print(f"{math_pages} load the bundled MathJax")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
