"""Small data bundled for the demo: the 8x8 handwritten digits.

``digits.npz`` (about 48 KB, beside this file) holds the 1,797 images of the
test set of the UCI "Optical Recognition of Handwritten Digits" data, as
distributed by scikit-learn's ``sklearn.datasets.load_digits`` (which reads
the ``digits.csv.gz`` in its own wheel). scikit-learn is not a dependency:
the file was made once, in a scratch environment, by the script in
``README.md`` beside this file.

Source and licence: E. Alpaydin and C. Kaynak, Optical Recognition of
Handwritten Digits, UCI Machine Learning Repository, 1998,
https://doi.org/10.24432/C50P49, CC BY 4.0
(https://creativecommons.org/licenses/by/4.0/); as distributed by
scikit-learn's ``load_digits``. Changes: converted to ``.npz`` (uint8 pixels,
uint8 labels) and a fixed stratified train/test split added; see
``LICENSE_DIGITS.md`` beside this file.

Contents of ``digits.npz`` (``np.load(..., allow_pickle=False)``):

==============  ==================  ====================================================
key             dtype, shape        meaning
==============  ==================  ====================================================
``images``      uint8 (1797, 8, 8)  pixel counts 0..16 (on pixels of a 4x4 block of the
                                    32x32 bitmap), rows in scikit-learn's order
``labels``      uint8 (1797,)       the digit 0..9
``train_idx``   uint16 (1438,)      rows of the training split, ascending
``test_idx``    uint16 (359,)       rows of the test split, ascending
``provenance``  str, 0-d            scikit-learn and NumPy versions, split recipe, hashes
==============  ==================  ====================================================

The split recipe (stratified 80/20, NumPy only; :func:`_stratified_split`
is the recipe as code and the tests check the stored indices against it)::

    rng = np.random.default_rng(20261128)          # one generator for all classes
    for c in range(10):                            # classes in ascending order
        members = rng.permutation(np.flatnonzero(labels == c))
        test += members[: round(0.2 * members.size)]
    test_idx = sorted(test); train_idx = every other row, ascending

Class counts are 178, 182, 177, 183, 181, 182, 181, 179, 174, 180 (digits
0..9), so the test split holds 36, 36, 35, 37, 36, 36, 36, 36, 35, 36 of
them (``0.2 * n`` is never a tie): 359 test and 1438 training images.

Verifying the bundled file: its SHA-256 is :data:`DIGITS_NPZ_SHA256`
(``sha256sum refquant/datasets/digits.npz``), and the SHA-256 of
``images.tobytes()`` (uint8, C order; the content, independent of how the
archive was written) is :data:`DIGITS_IMAGES_SHA256`, also recorded in the
file's ``provenance``:

>>> import hashlib
>>> raw = load_digits_raw()
>>> hashlib.sha256(raw.images.tobytes()).hexdigest() == DIGITS_IMAGES_SHA256
True

Caveat: all 1,797 images come from the 13 writers of the UCI test set, so
both splits share writers and test accuracy here is higher than on the UCI
writer-disjoint split.
"""

from __future__ import annotations

import io
from importlib import resources
from typing import Any, Literal, NamedTuple, overload

import numpy as np
from numpy.typing import DTypeLike, NDArray

from refquant._validate import check_choice

__all__ = [
    "DIGITS_IMAGES_SHA256",
    "DIGITS_NPZ_SHA256",
    "DIGITS_SPLIT_SEED",
    "Digits",
    "DigitsRaw",
    "DigitsSplit",
    "load_digits",
    "load_digits_raw",
]

DIGITS_NPZ_SHA256 = "c52b2cf3fff71b7425412cad72fff2a6836d39a5770b19d0b04226498b19829e"
"""SHA-256 of the bytes of the bundled ``digits.npz``."""

DIGITS_IMAGES_SHA256 = "8f26b2bd9d135c256808f68f14fdabddde6d9c7f869ae419704b051f0f14b3b3"
"""SHA-256 of ``images.tobytes()`` (uint8, shape (1797, 8, 8), C order)."""

DIGITS_SPLIT_SEED = 20261128
"""Seed of ``np.random.default_rng`` in the split recipe."""

_DIGITS_FILE = "digits.npz"
_TEST_FRACTION = 0.2
_SPLITS = ("train", "test", "all")


class Digits(NamedTuple):
    """The digits, split: ``x_*`` of shape (n, 64), ``y_*`` int64 of shape (n,)."""

    x_train: NDArray[Any]
    y_train: NDArray[np.int64]
    x_test: NDArray[Any]
    y_test: NDArray[np.int64]


class DigitsSplit(NamedTuple):
    """One split of the digits: ``x`` of shape (n, 64), ``y`` int64 of shape (n,)."""

    x: NDArray[Any]
    y: NDArray[np.int64]


class DigitsRaw(NamedTuple):
    """The arrays of ``digits.npz`` as stored (see the module docstring)."""

    images: NDArray[np.uint8]
    labels: NDArray[np.uint8]
    train_idx: NDArray[np.uint16]
    test_idx: NDArray[np.uint16]
    provenance: str


def load_digits_raw() -> DigitsRaw:
    """Read ``digits.npz`` as stored: ``images`` (1797, 8, 8) uint8, ``labels``, the split indices.

    Returns
    -------
    DigitsRaw
        ``images`` uint8 (1797, 8, 8) with values 0..16, ``labels`` uint8
        (1797,), ``train_idx`` uint16 (1438,) and ``test_idx`` uint16 (359,)
        (each ascending), and the ``provenance`` string. The arrays are fresh,
        writeable copies read from the file on every call (nothing is cached).

    Notes
    -----
    Read through :mod:`importlib.resources`, so it works from the source tree
    and from an installed wheel, with ``allow_pickle=False``.

    Examples
    --------
    >>> raw = load_digits_raw()
    >>> raw.images.shape, raw.images.dtype.name, int(raw.images.max())
    ((1797, 8, 8), 'uint8', 16)
    """
    data = resources.files(__name__).joinpath(_DIGITS_FILE).read_bytes()
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        return DigitsRaw(
            images=np.array(npz["images"], dtype=np.uint8),
            labels=np.array(npz["labels"], dtype=np.uint8),
            train_idx=np.array(npz["train_idx"], dtype=np.uint16),
            test_idx=np.array(npz["test_idx"], dtype=np.uint16),
            provenance=str(npz["provenance"]),
        )


@overload
def load_digits(*, split: None = None, dtype: DTypeLike = ..., scale: bool = ...) -> Digits: ...


@overload
def load_digits(
    *, split: Literal["train", "test", "all"], dtype: DTypeLike = ..., scale: bool = ...
) -> DigitsSplit: ...


def load_digits(
    *,
    split: Literal["train", "test", "all"] | None = None,
    dtype: DTypeLike = np.float32,
    scale: bool = True,
) -> Digits | DigitsSplit:
    """The 8x8 digits as flat feature rows: ``x = images.reshape(n, 64) / 16``, ``y = labels``.

    Parameters
    ----------
    split : {None, "train", "test", "all"}
        ``None`` (default): both splits, as :class:`Digits`
        ``(x_train, y_train, x_test, y_test)``. ``"train"`` (1438 rows),
        ``"test"`` (359 rows) or ``"all"`` (1797 rows, in scikit-learn's
        order): one :class:`DigitsSplit` ``(x, y)``.
    dtype : dtype, default float32
        dtype of ``x``. Floating when ``scale`` is true; with ``scale=False``
        an integer dtype is also allowed (the values 0..16 fit every one).
    scale : bool, default True
        Divide the pixel counts by 16, so ``x`` lies in [0, 1] and holds
        exactly ``k / 16`` for integers ``k`` in 0..16 (exact in every binary
        float format). ``False`` keeps the counts 0..16.

    Returns
    -------
    Digits or DigitsSplit
        ``x`` of shape (n, 64) and ``dtype``, row-major 8x8 pixels; ``y`` int64
        of shape (n,) with the digit 0..9. Rows of each split are in ascending
        order of their index in the full set. Every call reads the file and
        returns fresh, writeable, C-contiguous arrays (nothing is cached).

    Raises
    ------
    ValueError
        ``split`` not one of the choices.
    TypeError
        ``dtype`` not a real numeric dtype, or an integer dtype with ``scale=True``.

    Notes
    -----
    The split is stratified 80/20 and fixed: the recipe is in the module
    docstring; per class the test split holds ``round(0.2 * n_class)``
    images. Source: E. Alpaydin and C. Kaynak, Optical Recognition of
    Handwritten Digits, UCI Machine Learning Repository, 1998,
    https://doi.org/10.24432/C50P49, CC BY 4.0; as distributed by
    scikit-learn's ``load_digits``.

    Examples
    --------
    >>> import numpy as np
    >>> d = load_digits()
    >>> d.x_train.shape, d.x_test.shape, d.x_train.dtype.name, d.y_train.dtype.name
    ((1438, 64), (359, 64), 'float32', 'int64')
    >>> np.bincount(d.y_train).tolist()
    [142, 146, 142, 146, 145, 146, 145, 143, 139, 144]
    >>> np.bincount(d.y_test).tolist()
    [36, 36, 35, 37, 36, 36, 36, 36, 35, 36]
    >>> x, y = load_digits(split="all", scale=False, dtype=np.uint8)
    >>> x.shape, int(x.max()), y[:10].tolist()
    ((1797, 64), 16, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    """
    if split is not None:
        check_choice("split", split, _SPLITS)
    if isinstance(scale, np.bool_):
        scale = bool(scale)
    if not isinstance(scale, bool):
        raise TypeError(f"scale must be a bool, got {scale!r}")
    try:
        out_dtype = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be a floating or integer dtype, got {dtype!r}") from None
    if scale and out_dtype.kind != "f":
        raise TypeError(f"dtype must be a floating dtype when scale=True, got {out_dtype}")
    if out_dtype.kind not in "fiu":
        raise TypeError(f"dtype must be a floating or integer dtype, got {out_dtype}")

    raw = load_digits_raw()
    x = raw.images.reshape(raw.images.shape[0], 64).astype(out_dtype)
    if scale:
        x /= out_dtype.type(16)  # k / 16 is exact in binary floating point
    y = raw.labels.astype(np.int64)
    if split == "all":
        return DigitsSplit(x, y)
    if split == "train":
        return DigitsSplit(x[raw.train_idx], y[raw.train_idx])
    if split == "test":
        return DigitsSplit(x[raw.test_idx], y[raw.test_idx])
    return Digits(x[raw.train_idx], y[raw.train_idx], x[raw.test_idx], y[raw.test_idx])


def _stratified_split(
    labels: NDArray[np.integer[Any]],
    *,
    seed: int = DIGITS_SPLIT_SEED,
    test_fraction: float = _TEST_FRACTION,
) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """The split recipe as code: ``(train_idx, test_idx)``, each ascending.

    One ``np.random.default_rng(seed)``; for each class in ascending order,
    ``rng.permutation`` of that class's row indices, the first
    ``round(test_fraction * n_class)`` of them go to test. The stored indices
    were made with NumPy 2.4 (recorded in ``provenance``); NumPy keeps the
    PCG64 stream and ``permutation`` stable, and the stored file is the
    reference if that ever changes.
    """
    rng = np.random.default_rng(seed)
    parts = []
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        parts.append(members[: round(test_fraction * members.size)])
    test = np.sort(np.concatenate(parts))
    train = np.setdiff1d(np.arange(labels.size), test)
    return train, test
