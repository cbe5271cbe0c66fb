"""Argument types of the command line: each validates one value or raises ``ArgumentTypeError``.

argparse turns the error into its usual two lines on stderr (usage, then
``refquant demo: error: argument --seed: ...``) and exit status 2, before
any work is done; output paths are checked here too, so that a run never
ends in an unwritable file. :class:`Parser` keeps the usage on one line.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
from typing import Any, NamedTuple, NoReturn

from refquant.recipes.demo_plot import check_result

__all__ = [
    "DemoJSON",
    "Parser",
    "demo_json",
    "figure_path",
    "nonnegative_int",
    "output_path",
    "thread_count",
]

MAX_THREADS = 1024


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are exactly two lines: the usage, then the message."""

    def error(self, message: str) -> NoReturn:
        usage = " ".join(self.format_usage().split())
        self.exit(2, f"{usage}\n{self.prog}: error: {' '.join(message.split())}\n")


class DemoJSON(NamedTuple):
    """A demo result read from ``path``."""

    path: str
    result: dict[str, Any]


def nonnegative_int(text: str) -> int:
    """An integer >= 0 (a seed).

    Examples
    --------
    >>> nonnegative_int("7")
    7
    >>> nonnegative_int("-1")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: expected an integer >= 0, got '-1'
    """
    value = _int(text, "an integer >= 0")
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


def thread_count(text: str) -> int:
    """An integer from 1 to :data:`MAX_THREADS`.

    Examples
    --------
    >>> thread_count("2")
    2
    >>> thread_count("0")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: expected an integer from 1 to 1024, got '0'
    """
    value = _int(text, f"an integer from 1 to {MAX_THREADS}")
    if not 1 <= value <= MAX_THREADS:
        raise argparse.ArgumentTypeError(f"expected an integer from 1 to {MAX_THREADS}, got {text!r}")
    return value


def output_path(text: str) -> str:
    """A file that can be written: not a directory, in an existing directory, creatable or writable.

    Probes by opening the file (appending if it exists, so nothing is lost;
    creating and removing it otherwise).

    Examples
    --------
    >>> output_path("/nonexistent-dir/out.json")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: cannot write '/nonexistent-dir/out.json': no directory '/nonexistent-dir'
    """
    if not text:
        raise argparse.ArgumentTypeError("expected a file path, got ''")
    path = os.path.abspath(text)
    if os.path.isdir(path):
        raise argparse.ArgumentTypeError(f"cannot write {text!r}: it is a directory")
    parent = os.path.dirname(path)
    if not os.path.isdir(parent):
        what = "no directory" if not os.path.exists(parent) else "not a directory:"
        raise argparse.ArgumentTypeError(f"cannot write {text!r}: {what} {parent!r}")
    existed = os.path.lexists(path)
    try:
        with open(path, "a" if existed else "x", encoding="utf-8"):
            pass
    except OSError as exc:
        raise argparse.ArgumentTypeError(f"cannot write {text!r}: {exc.strerror or exc}") from None
    if not existed:
        try:
            os.remove(path)
        except OSError:  # pragma: no cover - removed by someone else meanwhile
            pass
    return text


def figure_path(text: str) -> str:
    """An :func:`output_path` whose extension names a format matplotlib writes; needs matplotlib.

    The error for a missing matplotlib names the extra: ``pip install
    refquant[plot]``. Exercised by ``tests/test_cli.py`` (the answer depends
    on whether matplotlib is installed, so no doctest).
    """
    try:
        importlib.import_module("matplotlib")
    except ImportError:
        raise argparse.ArgumentTypeError(
            "drawing the figure needs matplotlib, which is not installed: pip install refquant[plot]"
        ) from None
    from matplotlib.backend_bases import FigureCanvasBase

    formats = sorted(FigureCanvasBase.get_supported_filetypes())
    ext = os.path.splitext(text)[1].lower().lstrip(".")
    if ext not in formats:
        raise argparse.ArgumentTypeError(
            f"cannot save a figure as {text!r}: the extension must be one of "
            + ", ".join(f".{f}" for f in formats)
        )
    return output_path(text)


def demo_json(text: str) -> DemoJSON:
    """A readable JSON file holding a demo result (what ``refquant demo --json`` writes).

    Examples
    --------
    >>> demo_json("/nonexistent.json")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: cannot read '/nonexistent.json': No such file or directory
    """
    try:
        with open(text, encoding="utf-8") as fh:
            data = json.load(fh, parse_constant=_reject_constant)
    except OSError as exc:
        raise argparse.ArgumentTypeError(f"cannot read {text!r}: {exc.strerror or exc}") from None
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError, NaN
        raise argparse.ArgumentTypeError(f"{text!r} is not valid JSON: {exc}") from None
    try:
        return DemoJSON(text, check_result(data))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from None


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number here")


def _int(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
