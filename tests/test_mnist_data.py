"""nets.data: finding MNIST, checking its files, reading and splitting it.

Error cases use small IDX files crafted in tmp_path; the real-data checks read
../shared/data/mnist (or $NETS_DATA) and are skipped when it is absent.  No
test touches the network: downloads are switched off or ``urlopen`` is
replaced.
"""
import gzip
import hashlib
import io
import os
import pickle
import struct
import urllib.error

import numpy as np
import pytest

import nets.data as D
from nets.data import MNIST_FILES, MNISTDataError

from mnist_paths import SHARED_MNIST, mnist_dir as _real_dir, needs_mnist

TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


@pytest.fixture(autouse=True)
def _no_download(monkeypatch):
    """Never reach the network; tests that exercise downloading replace urlopen."""
    monkeypatch.setenv("NETS_DOWNLOAD", "0")
    monkeypatch.delenv("NETS_DATA", raising=False)


def _idx_bytes(array):
    array = np.asarray(array, dtype=np.uint8)
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


def _write(path, payload, compress=True):
    path.write_bytes(gzip.compress(payload) if compress else payload)
    return path


def _fake_mnist(directory, n_train=10_020, n_test=30, side=2, seed=0):
    """A tiny MNIST-shaped set (2x2 images): enough training images for the split."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    arrays = {
        D.TRAIN_IMAGES: rng.integers(0, 256, size=(n_train, side, side)),
        D.TRAIN_LABELS: rng.integers(0, 10, size=n_train),
        D.TEST_IMAGES: rng.integers(0, 256, size=(n_test, side, side)),
        D.TEST_LABELS: rng.integers(0, 10, size=n_test),
    }
    for name, arr in arrays.items():
        _write(directory / name, _idx_bytes(arr))
    return arrays


# ---------------------------------------------------------------- locating

def test_missing_directory_message_lists_files_dirs_and_env(tmp_path):
    missing = tmp_path / "no-such-dir"
    with pytest.raises(FileNotFoundError) as e:
        D.load_data(missing)
    msg = str(e.value)
    for name in MNIST_FILES:
        assert name in msg
    assert str(missing) in msg and "does not exist" in msg
    assert "NETS_DATA" in msg


def test_partial_directory_names_the_missing_files(tmp_path):
    _fake_mnist(tmp_path)
    (tmp_path / D.TEST_LABELS).unlink()
    with pytest.raises(FileNotFoundError, match=f"missing {D.TEST_LABELS}"):
        D.find_mnist(tmp_path)


def test_default_search_lists_every_directory(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setattr(D, "search_dirs", lambda: [tmp_path / "shared", cache])
    monkeypatch.setattr(D, "_cache_dir", lambda: cache)
    with pytest.raises(FileNotFoundError) as e:
        D.find_mnist()
    assert str(tmp_path / "shared") in str(e.value) and str(cache) in str(e.value)


def test_nets_data_env_var_is_used(tmp_path, monkeypatch):
    _fake_mnist(tmp_path / "mine")
    monkeypatch.setenv("NETS_DATA", str(tmp_path / "mine"))
    assert D.find_mnist() == tmp_path / "mine"
    monkeypatch.setenv("NETS_DATA", str(tmp_path / "elsewhere"))
    with pytest.raises(FileNotFoundError, match="elsewhere"):
        D.find_mnist()


def test_cache_dir_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert D._cache_dir() == tmp_path / "nets" / "mnist"
    assert D.search_dirs()[-1] == tmp_path / "nets" / "mnist"


@needs_mnist
def test_shared_data_directory_is_searched():
    if os.path.realpath(_real_dir()) != os.path.realpath(SHARED_MNIST):
        pytest.skip("MNIST comes from NETS_DATA here, not ../shared")
    assert os.path.realpath(D.find_mnist()) == os.path.realpath(SHARED_MNIST)


# ---------------------------------------------------------------- downloading

def test_offline_download_fails_fast_with_the_full_message(tmp_path, monkeypatch):
    calls = []

    def offline(url, timeout):
        calls.append((url, timeout))
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(D.urllib.request, "urlopen", offline)
    monkeypatch.setattr(D, "search_dirs", lambda: [tmp_path / "cache"])
    monkeypatch.setattr(D, "_cache_dir", lambda: tmp_path / "cache")
    with pytest.raises(FileNotFoundError) as e:
        D.find_mnist(download=True)
    assert "Downloading from the public mirrors failed" in str(e.value)
    assert D.TRAIN_IMAGES in str(e.value)
    assert len(calls) == len(D.MIRRORS)              # gave up after the first file
    assert all(t <= 10 for _, t in calls)            # short timeouts
    assert not (tmp_path / "cache").exists() or not list((tmp_path / "cache").iterdir())


def test_download_checks_md5_and_writes_atomically(tmp_path, monkeypatch):
    good = {name: b"payload of " + name.encode() for name in MNIST_FILES}
    monkeypatch.setattr(D, "MNIST_FILES", {n: hashlib.md5(b).hexdigest() for n, b in good.items()})

    def serve(url, timeout):
        name = url.rsplit("/", 1)[1]
        body = b"garbage" if url.startswith(D.MIRRORS[0]) else good[name]  # first mirror is corrupt
        return io.BytesIO(body)

    monkeypatch.setattr(D.urllib.request, "urlopen", serve)
    D.download_mnist(tmp_path / "dl")
    for name, body in good.items():
        assert (tmp_path / "dl" / name).read_bytes() == body
    assert not list((tmp_path / "dl").glob("*.part"))


# ---------------------------------------------------------------- corrupt files

def test_not_gzip_names_the_file(tmp_path):
    path = _write(tmp_path / D.TRAIN_LABELS, b"this is not gzip data", compress=False)
    with pytest.raises(MNISTDataError, match=f"{D.TRAIN_LABELS}.*not a valid gzip"):
        D.read_idx(path)


def test_truncated_gzip_names_the_file(tmp_path):
    blob = gzip.compress(_idx_bytes(np.arange(1000) % 10))
    path = tmp_path / D.TEST_LABELS
    path.write_bytes(blob[:len(blob) // 2])
    with pytest.raises(MNISTDataError, match=f"{D.TEST_LABELS}.*truncated"):
        D.read_idx(path)


def test_bad_magic_number(tmp_path):
    path = _write(tmp_path / D.TRAIN_IMAGES, b"\x12\x34\x08\x03" + b"\x00" * 64)
    with pytest.raises(MNISTDataError, match=f"{D.TRAIN_IMAGES}.*magic number 0x12340803"):
        D.read_idx(path)


def test_wrong_length_truncated_data(tmp_path):
    full = _idx_bytes(np.zeros((10, 28, 28)))
    path = _write(tmp_path / D.TEST_IMAGES, full[:-100])
    with pytest.raises(MNISTDataError, match=rf"{D.TEST_IMAGES}.*wrong length.*\(10, 28, 28\)"):
        D.read_idx(path)
    path = _write(tmp_path / D.TEST_IMAGES, full + b"extra")
    with pytest.raises(MNISTDataError, match="wrong length"):
        D.read_idx(path)


def test_wrong_md5(tmp_path):
    _fake_mnist(tmp_path)
    with pytest.raises(MNISTDataError, match=f"{D.TRAIN_IMAGES}.*wrong MD5.*{MNIST_FILES[D.TRAIN_IMAGES]}"):
        D.load_data(tmp_path)


def test_mismatched_image_and_label_counts(tmp_path):
    _fake_mnist(tmp_path)
    _write(tmp_path / D.TEST_LABELS, _idx_bytes(np.zeros(29)))
    with pytest.raises(MNISTDataError, match="30 images but .* 29 labels"):
        D.load_data(tmp_path, verify=False)


# ---------------------------------------------------------------- reading

def test_split_scaling_and_dtypes_on_crafted_files(tmp_path):
    arrays = _fake_mnist(tmp_path)
    (tx, ty), (vx, vy), (sx, sy) = D.load_data(tmp_path, verify=False)
    assert tx.shape == (20, 4) and vx.shape == (10_000, 4) and sx.shape == (30, 4)
    assert tx.dtype == np.float32 and ty.dtype == np.int64
    train_images = arrays[D.TRAIN_IMAGES].reshape(-1, 4)
    np.testing.assert_allclose(tx, train_images[:20] / 255.0, rtol=1e-6)
    np.testing.assert_allclose(vx, train_images[20:] / 255.0, rtol=1e-6)   # the last 10,000
    np.testing.assert_array_equal(vy, arrays[D.TRAIN_LABELS][20:])
    np.testing.assert_array_equal(sy, arrays[D.TEST_LABELS])


def test_too_few_training_images_for_the_validation_split(tmp_path):
    _fake_mnist(tmp_path, n_train=100)
    with pytest.raises(MNISTDataError, match="too few"):
        D.load_data(tmp_path, verify=False)


def test_nielsen_pickle(tmp_path):
    rng = np.random.default_rng(0)
    splits = tuple((rng.random((n, 784)).astype(np.float32), rng.integers(0, 10, n))
                   for n in (30, 10, 10))
    path = tmp_path / "mnist.pkl.gz"
    with gzip.open(path, "wb") as f:
        pickle.dump(splits, f, protocol=2)
    loaded = D.load_data(path)
    assert D.find_mnist(tmp_path) == path   # a directory holding only the pickle works too
    for (x, y), (wx, wy) in zip(loaded, splits):
        np.testing.assert_array_equal(x, wx)
        np.testing.assert_array_equal(y, wy)
    shared = D.load_data_shared(str(path), train_size=20)
    assert shared[0][0].get_value().shape == (20, 784) and shared[0][1].dtype == "int32"
    bad = _write(tmp_path / "broken.pkl.gz", b"not a pickle")
    with pytest.raises(MNISTDataError, match="broken.pkl.gz"):
        D.load_data(bad)


# ---------------------------------------------------------------- real MNIST

@needs_mnist
def test_real_mnist_split_and_values():
    (tx, ty), (vx, vy), (sx, sy) = D.load_data(_real_dir())   # MD5s verified
    assert tx.shape == (50_000, 784) and vx.shape == (10_000, 784) and sx.shape == (10_000, 784)
    assert tx.dtype == np.float32 and tx.min() == 0.0 and tx.max() == 1.0
    assert np.bincount(np.concatenate([ty, vy]), minlength=10).tolist() == TRAIN_COUNTS
    assert set(np.unique(sy)) == set(range(10)) and len(sy) == 10_000
    assert ty[:5].tolist() == [5, 0, 4, 1, 9]   # the well-known first labels


@needs_mnist
def test_real_mnist_shared_and_expanded():
    import symbolic as S
    (tx, ty), (vx, vy), (sx, sy) = D.load_data_shared(_real_dir(), train_size=1000, eval_size=500)
    assert tx.dtype == S.config.floatX and ty.dtype == "int32"
    assert tx.get_value().shape == (1000, 784) and vx.get_value().shape == (500, 784)
    # The expansion is generated from the 50,000: 250,000 images, shuffled, labels kept.
    x, y = D.load_data(_real_dir())[0]
    ex, ey = D.expand_images(x[:2000], y[:2000])
    assert ex.shape == (10_000, 784)
    np.testing.assert_array_equal(np.bincount(ey, minlength=10), 5 * np.bincount(y[:2000], minlength=10))
    assert ex.dtype == np.float32 and ex.max() <= 1.0
