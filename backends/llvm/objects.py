"""CPython and NumPy object layouts that generated kernels read directly.

Kernels take their arrays as Python tuples of ndarrays and read each array's data pointer,
dimensions, strides and flags from the objects themselves: getting a pointer in Python costs
2-3 us per array (``.ctypes.data``, ``__array_interface__``), a tuple argument 0.4 us.  The
offsets below are checked against the running interpreter when this module is imported.
"""
import ctypes

import numpy as np

TUPLE_ITEMS = tuple.__basicsize__          # offset of ob_item[0] in a PyTupleObject
OB_TYPE = 8                                # offset of ob_type in every PyObject
ARRAY_DATA = object.__basicsize__          # offset of ``data`` in a PyArrayObject


ARRAY_ND, ARRAY_DIMS, ARRAY_STRIDES = ARRAY_DATA + 8, ARRAY_DATA + 16, ARRAY_DATA + 24
ARRAY_DESCR, ARRAY_FLAGS = ARRAY_DATA + 40, ARRAY_DATA + 48
DESCR_BYTEORDER, DESCR_TYPE_NUM = object.__basicsize__ + 10, object.__basicsize__ + 12
NPY_C_CONTIGUOUS, NPY_WRITEABLE = 0x1, 0x400


def _check_layout():
    """The kernels read ndarray and tuple objects directly: check the field offsets."""
    def rd(addr, ctype):
        return ctype.from_address(addr).value
    a = np.zeros((3, 4), np.float32)[:, ::2]
    t = (a,)
    ok = (rd(id(t) + TUPLE_ITEMS, ctypes.c_void_p) == id(a)
          and rd(id(a) + OB_TYPE, ctypes.c_void_p) == id(np.ndarray)
          and rd(id(a) + ARRAY_DATA, ctypes.c_void_p) == a.ctypes.data
          and rd(id(a) + ARRAY_ND, ctypes.c_int) == 2
          and rd(rd(id(a) + ARRAY_DIMS, ctypes.c_void_p) + 8, ctypes.c_int64) == 2
          and rd(rd(id(a) + ARRAY_STRIDES, ctypes.c_void_p) + 8, ctypes.c_int64) == 8
          and rd(id(a) + ARRAY_DESCR, ctypes.c_void_p) == id(a.dtype)
          and rd(id(a) + ARRAY_FLAGS, ctypes.c_int) & NPY_WRITEABLE
          and not rd(id(a) + ARRAY_FLAGS, ctypes.c_int) & NPY_C_CONTIGUOUS
          and rd(id(a.dtype) + DESCR_TYPE_NUM, ctypes.c_int) == a.dtype.num
          and rd(id(a.dtype) + DESCR_BYTEORDER, ctypes.c_char) == a.dtype.byteorder.encode())
    if not ok:
        raise ImportError("backends.llvm: unexpected tuple/ndarray object layout; "
                          "this Python/NumPy build is not supported by the LLVM backend")


_check_layout()

