"""Semantics of compiled functions: inputs, outputs, updates, givens, errors."""
import pickle

import numpy as np
import pytest

import symbolic as S


def test_single_and_list_outputs():
    x = S.vector("x")
    f1 = S.function([x], x * 2)
    f2 = S.function([x], [x * 2, x + 1])
    v = np.array([1, 2], dtype="float32")
    assert isinstance(f1(v), np.ndarray)
    a, b = f2(v)
    np.testing.assert_allclose(a, [2, 4])
    np.testing.assert_allclose(b, [2, 3])


def test_no_outputs_only_updates():
    w = S.shared(np.float32(1.0), name="w")
    f = S.function([], updates=[(w, w * 3)])
    assert f() == []
    assert w.get_value() == 3.0


def test_updates_computed_from_old_values():
    a = S.shared(np.float32(1.0), name="a")
    b = S.shared(np.float32(10.0), name="b")
    f = S.function([], [a, b], updates=[(a, b), (b, a)])
    out = f()
    assert [float(o) for o in out] == [1.0, 10.0]
    assert (a.get_value(), b.get_value()) == (10.0, 1.0)


def test_shared_container_seen_by_every_function():
    w = S.shared(np.zeros(3, dtype="float32"), name="w")
    inc = S.function([], updates={w: w + 1})
    read = S.function([], w.sum())
    inc()
    inc()
    assert read() == 6.0
    w.set_value(np.ones(3, dtype="float32"))
    assert read() == 3.0


def test_givens_slice_shared_data_like_network3():
    data = S.shared(np.arange(20, dtype="float32").reshape(10, 2), name="data")
    i = S.lscalar("i")
    x = S.matrix("x")
    f = S.function([i], x.sum(), givens={x: data[i * 2:(i + 1) * 2]})
    assert f(0) == 0 + 1 + 2 + 3
    assert f(4) == 16 + 17 + 18 + 19


def test_givens_type_mismatch_names_variable():
    x = S.matrix("x")
    y = S.vector("y")
    with pytest.raises(TypeError, match="x"):
        S.function([y], x.sum(), givens={x: y})


def test_update_type_error_names_variable_and_dtype():
    w = S.shared(np.zeros(2, dtype="float32"), name="weights")
    x = S.dvector("x")
    with pytest.raises(TypeError, match=r"weights.*float64"):
        S.function([x], updates=[(w, w + x)])


def test_python_float_literal_keeps_float32_update():
    w = S.shared(np.ones(2, dtype="float32"), name="w")
    f = S.function([], updates=[(w, w - 0.1 * w)])
    f()
    assert w.get_value().dtype == np.float32
    np.testing.assert_allclose(w.get_value(), [0.9, 0.9])


def test_update_of_non_shared_is_error():
    x = S.vector("x")
    with pytest.raises(TypeError, match="not a shared variable"):
        S.function([x], updates=[(x, x + 1)])


def test_wrong_number_of_arguments():
    x, y = S.vector("x"), S.vector("y")
    f = S.function([x, y], x + y)
    with pytest.raises(TypeError, match="missing input 1"):
        f(np.zeros(2, dtype="float32"))
    with pytest.raises(TypeError, match="takes 2 inputs, got 3"):
        f(1, 2, 3)


def test_wrong_dtype_names_input_and_expected():
    x = S.ivector("labels")
    f = S.function([x], x * 2)
    with pytest.raises(TypeError, match=r"labels.*int32.*float64"):
        f(np.array([1.5, 2.0]))
    # a lossless cast is fine, and allow_input_downcast allows the rest
    np.testing.assert_array_equal(f(np.array([1, 2], dtype="int16")), [2, 4])
    g = S.function([x], x * 2, allow_input_downcast=True)
    np.testing.assert_array_equal(g(np.array([1.0, 2.0])), [2, 4])


def test_python_values_are_accepted_when_lossless():
    x = S.fvector("x")
    f = S.function([x], x + 1)
    np.testing.assert_allclose(f([1.5, 2]), [2.5, 3])
    with pytest.raises(TypeError, match="float32"):
        f(np.array([1.5], dtype="float64"))


def test_wrong_ndim_and_static_shape():
    x = S.matrix("x")
    f = S.function([x], x.sum())
    with pytest.raises(TypeError, match=r"x.*2-d.*1-d"):
        f(np.zeros(3, dtype="float32"))
    y = S.tensor("float32", (None, 3), "y")
    g = S.function([y], y.sum())
    with pytest.raises(ValueError, match=r"y.*\(\?, 3\).*\(2, 4\)"):
        g(np.zeros((2, 4), dtype="float32"))


def test_failed_call_leaves_shared_state_unchanged():
    w = S.shared(np.ones(3, dtype="float32"), name="w")
    x = S.vector("x")
    f = S.function([x], (w * x).sum(), updates=[(w, w * x)])
    with pytest.raises(ValueError):
        f(np.ones(4, dtype="float32"))  # broadcast error at run time
    np.testing.assert_array_equal(w.get_value(), [1, 1, 1])
    with pytest.raises(TypeError):
        f(np.ones((2, 2), dtype="float32"))
    np.testing.assert_array_equal(w.get_value(), [1, 1, 1])


def test_runtime_error_names_op_and_user_line():
    x, y = S.vector("x"), S.vector("y")
    z = x + y  # THE-LINE
    f = S.function([x, y], z)
    with pytest.raises(ValueError) as info:
        f(np.ones(2, dtype="float32"), np.ones(3, dtype="float32"))
    text = str(info.value)
    assert "add" in text and "THE-LINE" in text and "test_function.py" in text


def test_build_time_shape_error():
    a = S.tensor("float32", (2, 3), "a")
    b = S.tensor("float32", (4, 3), "b")
    with pytest.raises(ValueError, match="cannot be broadcast"):
        a + b
    with pytest.raises(ValueError, match="not aligned"):
        S.dot(a, b)


def test_missing_input_and_unused_input():
    x, y = S.vector("x"), S.vector("y")
    with pytest.raises(ValueError, match="needs the input y"):
        S.function([x], x + y)
    with pytest.raises(ValueError, match="not used"):
        S.function([x, y], x * 2)
    with pytest.warns(UserWarning):
        S.function([x, y], x * 2, on_unused_input="warn")
    f = S.function([x, y], x * 2, on_unused_input="ignore")
    np.testing.assert_allclose(f([1], [5]), [2])


def test_shared_variable_not_allowed_as_input():
    w = S.shared(np.zeros(2), name="w")
    with pytest.raises(TypeError, match="shared variable"):
        S.function([w], w * 2)


def test_in_with_default_and_keyword():
    x, y = S.scalar("x"), S.scalar("y")
    f = S.function([x, S.In(y, value=2.0)], x * y)
    assert f(3.0) == 6.0
    assert f(3.0, 4.0) == 12.0
    assert f(3.0, y=5.0) == 15.0
    with pytest.raises(TypeError, match="no input named 'z'"):
        f(1.0, z=2.0)


def test_outputs_are_not_aliased_to_state():
    w = S.shared(np.ones(3, dtype="float32"), name="w")
    f = S.function([], w)
    out = f()
    out[0] = 100
    assert w.get_value()[0] == 1.0


def test_get_set_value_copies_unless_borrow():
    arr = np.ones(3, dtype="float32")
    w = S.shared(arr, name="w")
    arr[0] = 5
    assert w.get_value()[0] == 1
    v = w.get_value()
    v[1] = 7
    assert w.get_value()[1] == 1
    w.set_value(np.zeros(4, dtype="float32"))  # shapes may change
    assert w.get_value().shape == (4,)
    with pytest.raises(TypeError, match="w"):
        w.set_value(np.zeros((2, 2), dtype="float32"))
    with pytest.raises(TypeError, match="float32"):
        w.set_value(np.zeros(2, dtype="float64"))


def test_shared_python_float_is_floatx():
    assert S.shared(0.5).dtype == "float32"
    with S.config.change_flags(floatX="float64"):
        assert S.shared(0.5).dtype == "float64"


def test_pickle_shared_variable_keeps_value():
    w = S.shared(np.arange(3, dtype="float32"), name="w")
    w2 = pickle.loads(pickle.dumps(w))
    np.testing.assert_array_equal(w2.get_value(), [0, 1, 2])
    assert w2.name == "w" and w2.dtype == "float32"


def test_eval():
    x = S.vector("x")
    assert float((x * 2).sum().eval({x: np.ones(3, dtype="float32")})) == 6.0
    assert S.constant(3.0).eval() == 3.0


def test_builtin_sum_of_variables():
    xs = [S.scalar(f"x{i}") for i in range(3)]
    total = sum(xs)
    f = S.function(xs, total)
    assert f(1, 2, 3) == 6


def test_mode_numpy_and_optimizer_none():
    x = S.vector("x")
    f = S.function([x], x * 2, mode="numpy")
    assert f([1.0])[0] == 2.0
    g = S.function([x], x * 2, mode=S.Mode(optimizer="None"))
    assert g([2.0])[0] == 4.0
    with pytest.raises(ValueError, match="mode"):
        S.function([x], x, mode="fastest")


def test_config_flags():
    with pytest.raises(AttributeError, match="valid flags are"):
        S.config.floatx = "float32"
    with pytest.raises(ValueError, match="expected one of"):
        S.config.floatX = "float16"
    with S.config.change_flags(floatX="float64"):
        assert S.matrix().dtype == "float64"
    assert S.matrix().dtype == "float32"


def test_config_from_environment(tmp_path):
    import subprocess
    import sys
    code = "import symbolic as S; print(S.config.floatX, S.config.linker)"
    env = {"SYMBOLIC_FLAGS": "floatX=float64,linker=numpy", "PATH": "/usr/bin:/bin"}
    import os
    env["PYTHONPATH"] = os.pathsep.join(sys.path)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.split() == ["float64", "numpy"], out.stderr
    env["SYMBOLIC_FLAGS"] = "flaotX=float64"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode != 0 and "valid flags are" in out.stderr


def test_device_cuda_without_cupy_fails_clearly():
    with S.config.change_flags(device="cuda"):
        with pytest.raises(RuntimeError, match="CUDA"):
            S.shared(np.zeros(2))


def test_pickle_compiled_function_with_its_shared_state():
    w = S.shared(np.array([1.0, 2.0], dtype="float32"), name="w")
    x = S.vector("x")
    y = S.softmax(S.exp(x * w).dimshuffle("x", 0))
    f = S.function([x], y.sum(), updates=[(w, w * 2)])
    f2, w2 = pickle.loads(pickle.dumps((f, w)))
    xv = np.array([0.5, 0.25], dtype="float32")
    assert np.isclose(f2(xv), f(xv))
    np.testing.assert_array_equal(w2.get_value(), [2.0, 4.0])   # its own copy of the state
    np.testing.assert_array_equal(w.get_value(), [2.0, 4.0])
    f2(xv)
    np.testing.assert_array_equal(w2.get_value(), [4.0, 8.0])
    np.testing.assert_array_equal(w.get_value(), [2.0, 4.0])


def test_threads_flag():
    assert S.config.threads >= 1
    with S.config.change_flags(threads="1"):
        assert S.config.threads == 1
    for bad in (0, -1, "x", "1.5", True):
        with pytest.raises(ValueError, match="positive integer"):
            S.config.threads = bad
