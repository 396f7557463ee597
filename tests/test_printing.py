"""debugprint and the Graphviz export."""
import numpy as np

import symbolic as S


def test_debugprint_shows_ops_types_and_shared_nodes():
    x = S.matrix("x")
    y = S.exp(x)
    z = y + y * 2
    text = S.debugprint(z, file="str")
    assert "add" in text and "exp" in text and "'x'" in text and "float32" in text
    # the shared subexpression y is printed in full once, then by id
    assert text.count("exp") == 2 and "id=" in text


def test_debugprint_of_compiled_function_and_trace():
    x = S.vector("x")
    f = S.function([x], S.tanh(x))
    text = S.debugprint(f, file="str")
    assert "tanh" in text
    text = S.debugprint(S.tanh(x), file="str", print_trace=True)
    assert "test_printing.py" in text


def test_to_dot_is_valid_looking_graphviz(tmp_path):
    x = S.vector("x")
    w = S.shared(np.ones(2, dtype="float32"), name="w")
    dot = S.to_dot((x * w).sum())
    assert dot.startswith("digraph G {") and dot.rstrip().endswith("}")
    assert "mul" in dot and "->" in dot and "w" in dot
    path = tmp_path / "g.dot"
    S.pydotprint((x * w).sum(), outfile=str(path))
    assert path.read_text() == dot


def test_variable_repr_and_op_str():
    x = S.matrix("x")
    assert repr(x) == "x"
    assert "Sum" in str((x.sum(axis=0)).owner.op)


def test_debugprint_marks_in_place_nodes():
    x = S.dmatrix("x")
    w = S.shared(np.eye(2), name="w")
    f = S.function([x], S.dot(S.tanh(S.dot(x, w)), w))
    text = S.debugprint(f, file="str")
    assert "(in place: overwrites input 0)" in text
