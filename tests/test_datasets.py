"""The bundled 8x8 digits: contents, the fixed stratified split, hashes, the loader's options."""

from __future__ import annotations

import hashlib
import io
from importlib import resources

import numpy as np
import pytest

from refquant.datasets import (
    DIGITS_IMAGES_SHA256,
    DIGITS_NPZ_SHA256,
    DIGITS_SPLIT_SEED,
    Digits,
    DigitsSplit,
    _stratified_split,
    load_digits,
    load_digits_raw,
)

N = 1797
# Images per digit 0..9 in scikit-learn's load_digits (the UCI test set).
CLASS_COUNTS = (178, 182, 177, 183, 181, 182, 181, 179, 174, 180)
# round(0.2 * n) by hand: 35.6 -> 36, 36.4 -> 36, 35.4 -> 35, 36.6 -> 37, 36.2 -> 36,
# 36.4 -> 36, 36.2 -> 36, 35.8 -> 36, 34.8 -> 35, 36.0 -> 36 (no ties: 0.2 * n is never k + 0.5).
TEST_COUNTS = (36, 36, 35, 37, 36, 36, 36, 36, 35, 36)
TRAIN_COUNTS = tuple(n - t for n, t in zip(CLASS_COUNTS, TEST_COUNTS, strict=True))
N_TEST = 359  # sum(TEST_COUNTS)
N_TRAIN = 1438  # 1797 - 359


def _file_bytes() -> bytes:
    return resources.files("refquant.datasets").joinpath("digits.npz").read_bytes()


def test_hand_counts_add_up() -> None:
    assert sum(CLASS_COUNTS) == N
    assert sum(TEST_COUNTS) == N_TEST and sum(TRAIN_COUNTS) == N_TRAIN
    assert TRAIN_COUNTS == (142, 146, 142, 146, 145, 146, 145, 143, 139, 144)
    assert TEST_COUNTS == tuple(round(0.2 * n) for n in CLASS_COUNTS)


def test_npz_file_as_stored() -> None:
    data = _file_bytes()
    assert len(data) <= 200 * 1024
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        assert sorted(npz.files) == ["images", "labels", "provenance", "test_idx", "train_idx"]
        images, labels = npz["images"], npz["labels"]
        assert images.dtype == np.uint8 and images.shape == (N, 8, 8)
        assert labels.dtype == np.uint8 and labels.shape == (N,)
        assert npz["train_idx"].dtype == np.uint16 and npz["train_idx"].shape == (N_TRAIN,)
        assert npz["test_idx"].dtype == np.uint16 and npz["test_idx"].shape == (N_TEST,)
        assert npz["provenance"].shape == () and npz["provenance"].dtype.kind == "U"
    assert int(images.min()) == 0 and int(images.max()) == 16
    assert set(np.unique(labels).tolist()) == set(range(10))
    assert tuple(np.bincount(labels, minlength=10).tolist()) == CLASS_COUNTS


def test_hashes_match_the_recorded_ones() -> None:
    assert hashlib.sha256(_file_bytes()).hexdigest() == DIGITS_NPZ_SHA256
    raw = load_digits_raw()
    assert raw.images.flags.c_contiguous
    assert hashlib.sha256(raw.images.tobytes()).hexdigest() == DIGITS_IMAGES_SHA256
    assert f"images sha256 {DIGITS_IMAGES_SHA256}" in raw.provenance
    labels_sha = hashlib.sha256(raw.labels.tobytes()).hexdigest()
    assert f"labels sha256 {labels_sha}" in raw.provenance
    assert "scikit-learn" in raw.provenance and f"default_rng({DIGITS_SPLIT_SEED})" in raw.provenance


def test_split_is_disjoint_sorted_and_covers_everything() -> None:
    raw = load_digits_raw()
    train, test = raw.train_idx.astype(np.int64), raw.test_idx.astype(np.int64)
    assert np.all(np.diff(train) > 0) and np.all(np.diff(test) > 0)
    assert np.intersect1d(train, test).size == 0
    assert np.array_equal(np.union1d(train, test), np.arange(N))


def test_split_is_stratified() -> None:
    raw = load_digits_raw()
    test_counts = np.bincount(raw.labels[raw.test_idx], minlength=10)
    train_counts = np.bincount(raw.labels[raw.train_idx], minlength=10)
    assert tuple(test_counts.tolist()) == TEST_COUNTS
    assert tuple(train_counts.tolist()) == TRAIN_COUNTS
    for n, t in zip(CLASS_COUNTS, test_counts.tolist(), strict=True):
        assert abs(t / n - 0.2) <= 1 / n


def test_stored_split_is_the_documented_recipe() -> None:
    # If a future NumPy changed Generator.permutation's stream this would fail; the stored file
    # stays the reference (its provenance records the NumPy version that made it).
    raw = load_digits_raw()
    train, test = _stratified_split(raw.labels)
    assert np.array_equal(train, raw.train_idx) and np.array_equal(test, raw.test_idx)
    train2, test2 = _stratified_split(raw.labels)
    assert np.array_equal(train, train2) and np.array_equal(test, test2)


def test_load_digits_shapes_dtypes_and_labels() -> None:
    d = load_digits()
    assert isinstance(d, Digits)
    assert d.x_train.shape == (N_TRAIN, 64) and d.x_test.shape == (N_TEST, 64)
    assert d.y_train.shape == (N_TRAIN,) and d.y_test.shape == (N_TEST,)
    assert d.x_train.dtype == np.float32 and d.x_test.dtype == np.float32
    assert d.y_train.dtype == np.int64 and d.y_test.dtype == np.int64
    assert tuple(np.bincount(d.y_train, minlength=10).tolist()) == TRAIN_COUNTS
    assert tuple(np.bincount(d.y_test, minlength=10).tolist()) == TEST_COUNTS
    for arr in d:
        assert arr.flags.c_contiguous and arr.flags.writeable


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_values_are_exactly_k_over_16(dtype: type[np.floating]) -> None:
    raw = load_digits_raw()
    x, y = load_digits(split="all", dtype=dtype)
    assert x.dtype == dtype and x.shape == (N, 64)
    assert float(x.min()) == 0.0 and float(x.max()) == 1.0
    k = x.astype(np.float64) * 16
    assert np.array_equal(k, np.round(k))
    assert np.array_equal(k, raw.images.reshape(N, 64).astype(np.float64))
    assert np.array_equal(y, raw.labels.astype(np.int64))


def test_unscaled_counts_and_integer_dtypes() -> None:
    raw = load_digits_raw()
    flat = raw.images.reshape(N, 64)
    x, _ = load_digits(split="all", scale=False)
    assert x.dtype == np.float32 and np.array_equal(x, flat.astype(np.float32))
    for dtype in (np.uint8, np.int8, np.int32, np.int64):
        xi, _ = load_digits(split="all", scale=False, dtype=dtype)
        assert xi.dtype == dtype and np.array_equal(xi, flat)


def test_splits_agree_with_each_other_and_the_indices() -> None:
    raw = load_digits_raw()
    d = load_digits(dtype=np.float64)
    x_all, y_all = load_digits(split="all", dtype=np.float64)
    train = load_digits(split="train", dtype=np.float64)
    test = load_digits(split="test", dtype=np.float64)
    assert isinstance(train, DigitsSplit) and isinstance(test, DigitsSplit)
    assert np.array_equal(train.x, d.x_train) and np.array_equal(train.y, d.y_train)
    assert np.array_equal(test.x, d.x_test) and np.array_equal(test.y, d.y_test)
    assert np.array_equal(x_all[raw.train_idx], d.x_train) and np.array_equal(y_all[raw.test_idx], d.y_test)
    # rows are the 8x8 images in C order
    assert np.array_equal(x_all[5].reshape(8, 8) * 16, raw.images[5])


def test_determinism_and_fresh_copies() -> None:
    a = load_digits()
    a.x_train[...] = -1.0
    a.y_test[...] = -1
    b = load_digits()
    c = load_digits()
    assert float(b.x_train.min()) == 0.0 and int(b.y_test.min()) == 0
    for u, v in zip(b, c, strict=True):
        assert np.array_equal(u, v) and not np.shares_memory(u, v)
    r = load_digits_raw()
    r.images[...] = 0
    assert int(load_digits_raw().images.max()) == 16


def test_labels_belong_to_the_images() -> None:
    # A nearest-class-mean classifier fit on train gets ~90% on test; a label/image misalignment
    # (shuffled rows, wrong split indices) would give ~10%.
    d = load_digits(dtype=np.float64)
    means = np.stack([d.x_train[d.y_train == c].mean(axis=0) for c in range(10)])
    dist = ((d.x_test[:, None, :] - means[None, :, :]) ** 2).sum(axis=2)
    accuracy = float(np.mean(dist.argmin(axis=1) == d.y_test))
    assert accuracy > 0.85


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="split"):
        load_digits(split="validation")  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="floating dtype when scale=True"):
        load_digits(dtype=np.int32)
    with pytest.raises(TypeError, match="floating or integer"):
        load_digits(dtype=np.complex64, scale=False)
    with pytest.raises(TypeError, match="floating or integer"):
        load_digits(dtype=np.bool_, scale=False)
    with pytest.raises(TypeError, match="scale"):
        load_digits(scale="yes")  # type: ignore[call-overload]


@pytest.mark.parametrize("bad", ["bogus", 1.5])
def test_a_dtype_numpy_cannot_read_is_named_with_its_value(bad: object) -> None:
    with pytest.raises(TypeError, match=f"dtype must be a floating or integer dtype, got {bad!r}"):
        load_digits(dtype=bad)  # type: ignore[call-overload]
