"""The graph: variables, applications of ops, and walking them.

A graph is a DAG of ``Apply`` nodes (an op applied to input variables, giving
output variables).  Graphs are immutable once built: rewrites and ``givens``
work on clones, so the user's variables never change under them.
"""
import os
import sys

import numpy as np

from .types import check_dtype, tensor_type_of_value

_PACKAGE_DIRS = tuple(
    os.path.dirname(os.path.abspath(p)) + os.sep
    for p in (__file__, os.path.join(os.path.dirname(__file__), "..", "backends", "x")))


def user_trace():
    """The first stack frame outside this project: the user's line that built a node."""
    frame = sys._getframe(1)
    while frame is not None:
        code = frame.f_code
        filename = code.co_filename
        if not filename.startswith(_PACKAGE_DIRS) and "importlib" not in filename \
                and not _inside_op_method(frame):
            return (filename, frame.f_lineno, code.co_name)
        frame = frame.f_back
    return None


def _inside_op_method(frame):
    """True in the methods of a user-defined Op, which are not where a node is wanted."""
    return frame.f_code.co_name in _OP_METHODS and isinstance(frame.f_locals.get("self"), Op)


_OP_METHODS = ("make_node", "__call__", "grad", "perform")


def format_trace(trace):
    if not trace:
        return "(no trace)"
    filename, lineno, func = trace
    import linecache
    line = linecache.getline(filename, lineno).strip()
    return f'File "{filename}", line {lineno}, in {func}' + (f"\n    {line}" if line else "")


class Variable:
    """A value in a graph: an input (``owner is None``) or an output of an Apply."""

    def __init__(self, type, owner=None, index=None, name=None):
        self.type = type
        self.owner = owner
        self.index = index
        self.name = name

    def clone(self):
        """A fresh input variable of the same type and name (no owner)."""
        return type(self)(self.type, name=self.name)

    def __repr__(self):
        if self.name:
            return self.name
        if self.owner is not None:
            out = f"{self.owner.op}"
            return out if len(self.owner.outputs) == 1 else f"{out}.{self.index}"
        return f"<{self.type}>"

    def get_parents(self):
        return [self.owner] if self.owner is not None else []


class Constant(Variable):
    """A variable whose value is known when the graph is built."""

    def __init__(self, type, data, name=None):
        super().__init__(type, name=name)
        self.data = data

    def clone(self):
        return self

    def signature(self):
        return (self.type, self.data.tobytes(), self.data.shape)

    def __repr__(self):
        if self.name:
            return self.name
        if self.data.size <= 8:
            return str(self.data.tolist()) if self.data.ndim else str(self.data.item())
        return f"Constant{{{self.type}}}"


class Apply:
    """One application of an op to input variables."""

    def __init__(self, op, inputs, output_types, trace=None):
        self.op = op
        self.inputs = list(inputs)
        for i, v in enumerate(self.inputs):
            if not isinstance(v, Variable):
                raise TypeError(f"{op}: input {i} is {type(v).__name__}, expected a Variable")
        from .variable import TensorVariable
        self.outputs = [TensorVariable(t, owner=self, index=i) for i, t in enumerate(output_types)]
        trace = trace or user_trace()
        self.trace = [trace] if trace else []

    @property
    def out(self):
        assert len(self.outputs) == 1
        return self.outputs[0]

    def clone_with_new_inputs(self, inputs):
        """Rebuild this node on other inputs through ``make_node``, keeping its trace."""
        node = self.op.make_node(*inputs)
        node.trace = list(self.trace)
        return node

    def __repr__(self):
        return f"{self.op}({', '.join(map(repr, self.inputs))})"


class Op:
    """An operation: defined once, with its types, gradient and NumPy meaning.

    Subclasses implement ``make_node`` (checking inputs, building output types
    with static shapes), ``perform`` (the NumPy reference meaning, returning a
    list of output arrays), and ``grad`` where differentiable.  ``__props__``
    names the attributes that make two ops equal, which merging relies on.
    Backends dispatch on the op's type; ops never know about backends.
    """

    __props__ = ()

    def make_node(self, *inputs):
        raise NotImplementedError

    def perform(self, node, inputs):
        raise NotImplementedError(f"{self} has no reference implementation")

    def grad(self, inputs, output_grads):
        raise GradientUndefined(self)

    def connection_pattern(self, node):
        """Which outputs depend (differentiably) on which inputs: [input][output]."""
        return [[True] * len(node.outputs) for _ in node.inputs]

    def __call__(self, *inputs, **kwargs):
        node = self.make_node(*inputs, **kwargs)
        return node.outputs[0] if len(node.outputs) == 1 else node.outputs

    def _props(self):
        return tuple(getattr(self, p) for p in self.__props__)

    def __eq__(self, other):
        return type(self) is type(other) and self._props() == other._props()

    def __hash__(self):
        return hash((type(self), self._props()))

    def __str__(self):
        name = type(self).__name__
        if not self.__props__:
            return name
        return f"{name}{{{', '.join(str(p) for p in self._props())}}}"

    __repr__ = __str__


class GradientUndefined(TypeError):
    """Raised when differentiating through an op that has no gradient."""

    def __init__(self, op, index=None, where=None):
        self.op, self.index = op, index
        which = f" with respect to input {index}" if index is not None else ""
        at = f"; the node was created at {where}" if where else ""
        super().__init__(f"the gradient of {op}{which} is not defined{at}")


def as_variable(x, name=None):
    from .variable import as_tensor_variable
    return as_tensor_variable(x, name=name)


def constant(value, dtype=None, name=None):
    """A TensorConstant holding a read-only copy of ``value``."""
    from .variable import TensorConstant
    arr = np.array(value, dtype=check_dtype(dtype) if dtype else None)
    if arr.dtype.name not in ("bool", "int8", "int16", "int32", "int64", "uint8", "float32", "float64"):
        if arr.dtype.kind == "f":
            arr = arr.astype("float64")
        elif arr.dtype.kind in "iu":
            arr = arr.astype("int64")
        else:
            raise TypeError(f"cannot make a constant of {value!r} (dtype {arr.dtype})")
    arr.setflags(write=False)
    return TensorConstant(tensor_type_of_value(arr), arr, name=name)


# ---------------------------------------------------------------- traversal

def ancestors(outputs, blockers=()):
    """Every variable the outputs depend on, stopping at ``blockers``."""
    blockers = set(map(id, blockers))
    seen, order, stack = set(), [], list(outputs)
    while stack:
        v = stack.pop()
        if id(v) in seen:
            continue
        seen.add(id(v))
        order.append(v)
        if v.owner is not None and id(v) not in blockers:
            stack.extend(v.owner.inputs)
    return order


def graph_inputs(outputs, blockers=()):
    return [v for v in ancestors(outputs, blockers) if v.owner is None or id(v) in set(map(id, blockers))]


def toposort(outputs, blockers=()):
    """Apply nodes in an order where each comes after the nodes it depends on."""
    blocked = set(map(id, blockers))
    order, done = [], set()
    for out in outputs:
        stack = [(out, False)]
        while stack:
            v, expanded = stack.pop()
            node = v.owner
            if node is None or id(v) in blocked or id(node) in done:
                continue
            if expanded:
                done.add(id(node))
                order.append(node)
                continue
            stack.append((v, True))
            for inp in reversed(node.inputs):
                if inp.owner is not None and id(inp.owner) not in done:
                    stack.append((inp, False))
    return order


def clone_replace(outputs, replace=None):
    """Copy the graph of ``outputs`` with variables substituted per ``replace``.

    Nodes not depending on any replaced variable are shared, not copied: graphs
    are immutable, so sharing is safe and keeps cloning cheap.
    """
    memo = {id(k): v for k, v in (replace or {}).items()}
    for node in toposort(outputs, blockers=[k for k in (replace or {})]):
        new_inputs = [memo.get(id(i), i) for i in node.inputs]
        if all(a is b for a, b in zip(new_inputs, node.inputs)):
            continue
        new_node = node.clone_with_new_inputs(new_inputs)
        for old, new in zip(node.outputs, new_node.outputs):
            memo[id(old)] = new
    return [memo.get(id(o), o) for o in outputs]
