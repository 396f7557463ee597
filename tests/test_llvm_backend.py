"""The LLVM backend's program: native lowerings agree with the reference backend."""
import numpy as np
import pytest

from backends.llvm.blas import Blas, blas


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("mkn", [(3, 4, 5), (1, 1, 1), (10, 784, 100), (0, 3, 2), (3, 0, 2), (2, 3, 0)])
@pytest.mark.parametrize("layout", ["c", "f", "transposed_view", "strided", "negative"])
def test_blas_gemm_matches_numpy(dtype, mkn, layout):
    rng = np.random.default_rng(0)
    m, k, n = mkn
    a = rng.normal(size=(m, k)).astype(dtype)
    if layout == "f":
        a = np.asfortranarray(a)
    elif layout == "transposed_view":
        a = np.ascontiguousarray(a.T).T
    elif layout == "strided":
        a = np.repeat(a, 2, axis=1)[:, ::2]
    elif layout == "negative":
        a = a[::-1]
    b = rng.normal(size=(k, n)).astype(dtype)
    c = rng.normal(size=(m, n)).astype(dtype)
    expect = 2.0 * c + 0.5 * (a @ b)
    out = blas().gemm(0.5, a, b, 2.0, c)
    assert out is c
    np.testing.assert_allclose(c, expect, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("mkn", [(3, 4, 5), (1, 1, 1), (10, 784, 100), (0, 3, 2), (3, 0, 2), (2, 3, 0)])
@pytest.mark.parametrize("layout", ["c", "f", "transposed_view", "strided", "negative"])
def test_generated_gemm_call_matches_numpy(dtype, mkn, layout):
    from backends.llvm.gemm import gemm_for
    rng = np.random.default_rng(0)
    m, k, n = mkn
    gemm = gemm_for(dtype)
    assert gemm is not None
    for _ in range(2):                       # the second call runs the cached plan
        a = rng.normal(size=(m, k)).astype(dtype)
        b = {"c": lambda x: x, "f": np.asfortranarray, "transposed_view": lambda x: np.ascontiguousarray(x.T).T,
             "strided": lambda x: np.repeat(x, 2, axis=1)[:, ::2], "negative": lambda x: x[::-1]}[layout](
            rng.normal(size=(k, n)).astype(dtype))
        c = rng.normal(size=(m, n)).astype(dtype)
        expect = 2.0 * c + 0.5 * (a @ b)
        assert gemm(0.5, a, b, 2.0, c) is c
        np.testing.assert_allclose(c, expect, rtol=1e-4, atol=1e-4)


def test_blas_falls_back_to_numpy_without_openblas():
    fallback = Blas()
    fallback.lib, fallback.functions = None, {}
    a, b = np.ones((2, 3), "float32"), np.ones((3, 4), "float32")
    c = np.zeros((2, 4), "float32")
    fallback.gemm(1.0, a, b, 0.0, c)
    np.testing.assert_array_equal(c, np.full((2, 4), 3.0))
    assert fallback.name == "numpy.matmul"
    with pytest.raises(ValueError, match="do not match"):
        fallback.gemm(1.0, a, a, 0.0, c)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("arch", ["shallow", "conv", "dropout"])
def test_llvm_backend_trains_like_the_reference(arch, threads):
    import symbolic as S
    from test_network3_graphs import _conv, _dropout, _shallow, _training_function
    build = {"shallow": _shallow, "conv": _conv, "dropout": _dropout}[arch]
    results = {}
    for linker in ("numpy", "llvm"):
        np.random.seed(0)
        with S.config.change_flags(threads=threads):
            f = _training_function(build(), 0.1, mode=S.Mode(linker=linker))
            costs = [float(f(i)) for i in range(3)]
        results[linker] = costs, [v.get_value() for v in f.shared_vars]
    (c0, v0), (c1, v1) = results["numpy"], results["llvm"]
    np.testing.assert_allclose(c1, c0, rtol=1e-4)
    for a, b in zip(v1, v0):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5)


def test_llvm_profile_says_what_ran_natively():
    import symbolic as S
    x = S.fmatrix("x")
    w = S.shared(np.ones((3, 2), "float32"), name="w")
    f = S.function([x], (S.maximum(0, S.dot(x, w) * 2 + 1) ** 2).sum(), mode="llvm", profile=True)
    assert f(np.ones((4, 3), "float32")) == 4 * 2 * 49
    text = f.profile_summary(file="str")
    assert "native: LLVM" in text and "gemm" in text
    assert "one native call" in text


def test_cache_command_clears_the_configured_folder(tmp_path):
    import os
    import subprocess
    import sys
    env = dict(os.environ, SYMBOLIC_FLAGS=f"cache_dir={tmp_path}")
    where = subprocess.run([sys.executable, "-m", "backends.llvm", "where"], env=env,
                           capture_output=True, text=True, check=True).stdout.strip()
    assert where == os.path.join(str(tmp_path), "llvm")
    os.makedirs(where)
    open(os.path.join(where, "stale.o"), "w").close()
    subprocess.run([sys.executable, "-m", "backends.llvm", "clear-cache"], env=env, check=True,
                   capture_output=True)
    assert not os.path.exists(where)


def test_auto_picks_llvm_on_the_cpu():
    import backends
    assert backends.get_backend("auto").name == "llvm"


def test_auto_falls_back_to_the_reference_with_a_warning(monkeypatch):
    import sys
    import backends
    monkeypatch.setitem(sys.modules, "backends.llvm.backend", None)   # the import now fails
    with pytest.warns(RuntimeWarning, match="llvm backend cannot load"):
        assert backends.get_backend("auto").name == "numpy"
