"""MNIST for the nets package: find it, check it, read it, share it.

Sources, in the order they are looked for (the first one given is used):

1. an explicit ``path`` argument -- a directory holding the four official
   IDX files (or, failing those, Nielsen's ``mnist.pkl.gz``), or a
   ``*.pkl.gz`` file in Nielsen's format;
2. the ``NETS_DATA`` environment variable (same meaning);
3. ``../shared/data/mnist`` next to the repository checkout, if it exists;
4. the per-user cache ``~/.cache/nets/mnist`` (``$XDG_CACHE_HOME/nets/mnist``).

With neither 1 nor 2 given and no complete copy in 3 or 4, the files are
downloaded into 4 from public mirrors (short timeouts; ``NETS_DOWNLOAD=0``
turns that off).  Offline this fails within seconds with a FileNotFoundError
that lists the file names, the directories searched and how to set
``NETS_DATA``.

Every IDX file is checked: a readable gzip stream, the IDX magic number and
dimensions, the amount of data the header promises, and finally the MD5 of
the official file, so a truncated download or a different data set is named
instead of silently training on it.  The book's split is used: the first
50,000 training images for training, the last 10,000 for validation, the
10,000 t10k images for test.  Pixels are float32 in [0, 1] (byte / 255;
Nielsen's pickle used byte / 256, and is returned as stored).
"""
import gzip
import hashlib
import os
import pickle
import struct
import tempfile
import urllib.request
import zlib
from pathlib import Path

import numpy as np

__all__ = [
    "MNIST_FILES", "MNISTDataError", "find_mnist", "search_dirs", "read_idx", "load_data",
    "load_data_shared", "shared_dataset", "expand_images", "expand_mnist", "download_mnist",
]

TRAIN_IMAGES = "train-images-idx3-ubyte.gz"
TRAIN_LABELS = "train-labels-idx1-ubyte.gz"
TEST_IMAGES = "t10k-images-idx3-ubyte.gz"
TEST_LABELS = "t10k-labels-idx1-ubyte.gz"

#: File name -> MD5 of the official file (the gzip file as distributed).
MNIST_FILES = {
    TRAIN_IMAGES: "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    TRAIN_LABELS: "d53e105ee54ea40749a09fcbcd1e9432",
    TEST_IMAGES: "9fb629c4189551a2d022fa330f9573f3",
    TEST_LABELS: "ec29112dd5afa0611ce80d1b7f02629c",
}

#: Public mirrors of the four files (yann.lecun.com itself often refuses robots).
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)

N_TRAIN, N_VALIDATION = 50_000, 10_000
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


class MNISTDataError(ValueError):
    """A data file exists but is not what it should be (named in the message)."""


# ---------------------------------------------------------------- locating

def _repo_root():
    return Path(__file__).resolve().parent.parent


def _cache_dir():
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "nets" / "mnist"


def search_dirs():
    """The default places looked in when no path and no NETS_DATA are given."""
    dirs = []
    for root in (_repo_root(), Path.cwd()):
        shared = (root.parent / "shared" / "data" / "mnist").resolve()
        if shared.is_dir() and shared not in dirs:
            dirs.append(shared)
    dirs.append(_cache_dir())
    return dirs


def _missing(directory):
    return [name for name in MNIST_FILES if not (Path(directory) / name).is_file()]


def _usable(directory):
    """``directory`` if it holds the four IDX files, else its ``mnist.pkl.gz``, else None."""
    directory = Path(directory)
    if directory.is_dir():
        if not _missing(directory):
            return directory
        if (directory / "mnist.pkl.gz").is_file():
            return directory / "mnist.pkl.gz"
    return None


def _not_found(searched, tried_download):
    lines = ["MNIST not found. Needed: the four IDX files"]
    lines += [f"    {name}" for name in MNIST_FILES]
    lines.append("in one directory (or Nielsen's mnist.pkl.gz). Searched:")
    for d in searched:
        miss = _missing(d)
        state = ("does not exist" if not Path(d).is_dir()
                 else "missing " + ", ".join(miss) if miss else "complete")
        lines.append(f"    {d} ({state})")
    if tried_download:
        lines.append("Downloading from the public mirrors failed (offline?).")
    lines.append("Put the files in one of those directories, or point NETS_DATA at them: "
                 "export NETS_DATA=/path/to/mnist (or pass the directory / --data-dir).")
    return FileNotFoundError("\n".join(lines))


def find_mnist(path=None, download=None):
    """The directory (or ``.pkl.gz`` file) to read MNIST from.

    ``path`` or ``NETS_DATA`` name the one place to use: a directory with the
    four IDX files or a pickle file (nothing else is searched or downloaded).
    Otherwise the shared data directory and the user cache are searched, then
    (if ``download`` -- default: unless ``NETS_DOWNLOAD=0``) the files are
    fetched into the cache.
    """
    if download is None:
        download = os.environ.get("NETS_DOWNLOAD", "1").lower() not in ("0", "false", "no", "off")
    explicit = path if path is not None else os.environ.get("NETS_DATA") or None
    if explicit is not None:
        explicit = Path(explicit).expanduser()
        if explicit.is_file():
            return explicit
        if str(explicit).endswith(".pkl.gz"):
            raise FileNotFoundError(f"MNIST pickle {explicit} does not exist")
        searched = [explicit]
    else:
        searched = search_dirs()
    for d in searched:
        found = _usable(d)
        if found is not None:
            return found
    # Only the default search downloads (into the cache): an explicit path
    # means "use these files", and a typo should not create a directory.
    if download and explicit is None:
        try:
            download_mnist(_cache_dir())
            return _cache_dir()
        except OSError:
            raise _not_found(searched, tried_download=True) from None
    raise _not_found(searched, tried_download=False)


def download_mnist(directory, mirrors=MIRRORS, timeout=5.0):
    """Fetch the missing IDX files into ``directory``, checking each MD5.

    Each file is written to a temporary name and renamed only once its MD5
    matches, so an interrupted download never leaves a file that looks
    complete.  Raises OSError (``URLError`` offline) if a file cannot be had
    from any mirror; the short ``timeout`` keeps that fast.
    """
    directory = Path(directory)
    for name in _missing(directory):
        errors = []
        for mirror in mirrors:
            try:
                with urllib.request.urlopen(mirror + name, timeout=timeout) as response:
                    data = response.read()
            except OSError as e:  # URLError, timeouts, connection resets
                errors.append(f"{mirror}: {e}")
                continue
            if hashlib.md5(data).hexdigest() != MNIST_FILES[name]:
                errors.append(f"{mirror}: wrong MD5")
                continue
            directory.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=directory, delete=False, suffix=".part") as f:
                f.write(data)
            os.replace(f.name, directory / name)
            break
        else:
            raise OSError(f"could not download {name}: " + "; ".join(errors))


# ---------------------------------------------------------------- reading

def read_idx(path, expected_md5=None):
    """The array stored in the gzip-compressed IDX file ``path``.

    Raises MNISTDataError naming the file if it is not gzip, is truncated,
    has a bad magic number or dimensions, holds more or less data than its
    header says, or (with ``expected_md5``) differs from the original.
    """
    path = Path(path)
    raw = path.read_bytes()
    try:
        data = gzip.decompress(raw)
    except (gzip.BadGzipFile, EOFError, zlib.error, OSError) as e:
        kind = "truncated" if isinstance(e, EOFError) else "not a valid gzip file"
        raise MNISTDataError(f"{path}: {kind} ({e}); delete it and fetch it again") from None
    if len(data) < 4:
        raise MNISTDataError(f"{path}: {len(data)} bytes after decompression, too short for an "
                             f"IDX header")
    zero, type_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or type_code not in _IDX_DTYPES or ndim == 0:
        raise MNISTDataError(f"{path}: bad IDX magic number 0x{data[:4].hex()} (expected "
                             f"0x00000801 for labels or 0x00000803 for images)")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise MNISTDataError(f"{path}: truncated IDX header ({len(data)} bytes, need {header})")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    dtype = np.dtype(_IDX_DTYPES[type_code])
    expected = int(np.prod(dims)) * dtype.itemsize
    if len(data) - header != expected:
        raise MNISTDataError(
            f"{path}: wrong length: the header promises {dims} -> {expected} bytes of data, the "
            f"file holds {len(data) - header} (truncated or corrupt)")
    if expected_md5 is not None:
        digest = hashlib.md5(raw).hexdigest()
        if digest != expected_md5:
            raise MNISTDataError(
                f"{path}: wrong MD5 {digest}, expected {expected_md5}: the file is corrupt or not "
                f"the original MNIST file (pass verify=False to load another data set in the "
                f"same format)")
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)


def _read_pair(directory, images_name, labels_name, verify):
    def md5(name):
        return MNIST_FILES[name] if verify else None
    images = read_idx(Path(directory) / images_name, md5(images_name))
    labels = read_idx(Path(directory) / labels_name, md5(labels_name))
    if images.ndim != 3 or labels.ndim != 1:
        raise MNISTDataError(f"{directory}: {images_name} must hold 3-d images and {labels_name} "
                             f"1-d labels, got shapes {images.shape} and {labels.shape}")
    if images.shape[0] != labels.shape[0]:
        raise MNISTDataError(f"{directory}: {images_name} has {images.shape[0]} images but "
                             f"{labels_name} has {labels.shape[0]} labels")
    x = images.reshape(images.shape[0], -1).astype(np.float32)
    x *= np.float32(1.0 / 255.0)
    return x, labels.astype(np.int64)


def _load_pickle(path):
    # Nielsen's file is a Python 2 pickle; latin1 decodes its NumPy buffers.
    # Only load pickles you trust: unpickling can run arbitrary code.
    try:
        with gzip.open(path, "rb") as f:
            splits = pickle.load(f, encoding="latin1")
    except (gzip.BadGzipFile, EOFError, zlib.error, OSError, pickle.UnpicklingError) as e:
        raise MNISTDataError(f"{path}: not a readable gzip-compressed pickle ({e})") from None
    try:
        return [(np.asarray(x, dtype=np.float32), np.asarray(y, dtype=np.int64)) for x, y in splits]
    except (TypeError, ValueError) as e:
        raise MNISTDataError(f"{path}: expected ((train_x, train_y), (val_x, val_y), "
                             f"(test_x, test_y)), {e}") from None


def load_data(path=None, verify=True, download=None):
    """MNIST as NumPy arrays: ``[(train_x, train_y), (val_x, val_y), (test_x, test_y)]``.

    ``x`` is float32 of shape (n, 784) in [0, 1], ``y`` int64 labels. See the
    module docstring for where ``path`` (a directory or a ``.pkl.gz``) is
    looked for; ``verify=False`` skips the MD5 check.
    """
    source = find_mnist(path, download=download)
    if source.is_file():
        return _load_pickle(source)
    x, y = _read_pair(source, TRAIN_IMAGES, TRAIN_LABELS, verify)
    test = _read_pair(source, TEST_IMAGES, TEST_LABELS, verify)
    if x.shape[0] <= N_VALIDATION:
        raise MNISTDataError(f"{source}: {TRAIN_IMAGES} has only {x.shape[0]} images, too few to "
                             f"hold out {N_VALIDATION} for validation")
    split = x.shape[0] - N_VALIDATION  # 50,000 for the real file
    return [(x[:split], y[:split]), (x[split:], y[split:]), test]


# ---------------------------------------------------------------- expansion

def expand_images(x, y, seed=0):
    """The book's expanded training set: each image and its four one-pixel shifts.

    ``x`` is (n, 784). Every image gives five: itself, shifted down, up, right
    and left by one pixel (the row or column pushed in is zero).  The 5n
    examples are shuffled (reproducibly, by ``seed``) as ``expand_mnist.py``
    shuffled them, since network3 never reshuffles during training.  Built
    in memory: 50,000 images give 250,000 (0.8 GB of float32).
    """
    n = x.shape[0]
    side = int(round(np.sqrt(x.shape[1])))
    if side * side != x.shape[1]:
        raise ValueError(f"expand_images: rows of {x.shape[1]} pixels are not square images")
    images = x.reshape(n, side, side)
    out = np.empty((5 * n, x.shape[1]), dtype=x.dtype)
    out_y = np.empty(5 * n, dtype=y.dtype)
    # dest[i, k] is where copy k of image i lands after the shuffle.
    dest = np.random.default_rng(seed).permutation(5 * n).reshape(n, 5)
    shifted = np.empty_like(images)
    for k, (shift, axis) in enumerate([(0, 0), (1, 1), (-1, 1), (1, 2), (-1, 2)]):
        if shift == 0:
            shifted[...] = images
        else:
            shifted[...] = np.roll(images, shift, axis=axis)
            edge = 0 if shift > 0 else side - 1  # the row/column that wrapped around
            if axis == 1:
                shifted[:, edge, :] = 0
            else:
                shifted[:, :, edge] = 0
        out[dest[:, k]] = shifted.reshape(n, -1)
        out_y[dest[:, k]] = y
    return out, out_y


def expand_mnist(path=None, seed=0, verify=True, download=None):
    """:func:`load_data` with the training set replaced by its 250,000-image expansion."""
    (x, y), validation, test = load_data(path, verify=verify, download=download)
    return [expand_images(x, y, seed), validation, test]


# ---------------------------------------------------------------- shared

def shared_dataset(x, y):
    """``(shared_x, shared_y)``: images as floatX, labels as int32 shared variables.

    network3 stored labels as a float shared variable and returned
    ``T.cast(shared_y, "int32")`` because old GPUs held only floats.  Here
    labels are stored as int32 directly: no float round trip, ``get_value``
    gives the labels back, and ``shared_y[a:b]`` is an int32 vector that
    network3-style ``givens={y: shared_y[...]}`` with ``y = T.ivector()``
    accept as they are (and ``T.cast(shared_y, "int32")`` is a no-op).
    """
    import symbolic as S
    floatx = S.config.floatX
    x = np.ascontiguousarray(x, dtype=floatx)
    shared_x = S.shared(x, name="data_x", borrow=True)
    shared_y = S.shared(np.asarray(y, dtype=np.int32), name="data_y", borrow=True)
    return shared_x, shared_y


def load_data_shared(filename=None, expanded=False, train_size=None, eval_size=None, seed=0,
                     verify=True, download=None):
    """network3's ``load_data_shared``: the three splits as shared variable pairs.

    ``filename`` is a data directory or a ``.pkl.gz`` file (None searches as
    :func:`find_mnist` does).  ``expanded=True`` trains on the 250,000
    shifted images (generated on the fly, not read from disk).  ``train_size``
    keeps only the first examples of the training set and ``eval_size`` the
    first of validation and test, for quick runs.
    """
    if expanded:
        splits = expand_mnist(filename, seed=seed, verify=verify, download=download)
    else:
        splits = load_data(filename, verify=verify, download=download)
    limits = [train_size, eval_size, eval_size]
    out = []
    for (x, y), limit in zip(splits, limits):
        if limit is not None:
            if limit < 1:
                raise ValueError(f"load_data_shared: sizes must be positive, got {limit}")
            x, y = x[:limit], y[:limit]
        out.append(shared_dataset(x, y))
    return out

