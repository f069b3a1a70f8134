# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""fastgd._fastcall: the fused training step of a ``fastgd._core.Engine`` called from Cython.

``EngineStep(engine).step(X, y, sample_weight=None)`` is ``engine.step(X, y, sample_weight)``
(the pybind11 binding) with less work per call: it reads the arrays' NumPy headers directly and
calls the engine that ``_core`` built through the C function table of
``src/cpp/bindings/fastcall.h``, with the GIL released. Only arguments it can take as they are
(the net's dtype, native byte order, C-contiguous and aligned, the right shapes, targets and
weights that pass Engine.step's value checks) take this path; anything else (a list, another
dtype, a Fortran-ordered or strided array, bool or int32 labels, a bad value) is handed to the
pybind11 ``engine.step``, which converts it or raises its error. So both bindings accept the same
arguments, give the same results and raise the same errors.
"""

cimport numpy as cnp
from cpython.dict cimport PyDict_Next, PyDict_Size
from cpython.pycapsule cimport PyCapsule_GetPointer
from cpython.ref cimport PyObject
from libc.stdint cimport int64_t

cnp.import_array()

cdef extern from "fastcall.h" nogil:
    const char* FASTGD_FASTCALL_CAPSULE
    int FASTGD_FASTCALL_ABI
    int FASTGD_FLOAT32
    int FASTGD_LOSS_CROSS_ENTROPY
    int FASTGD_LOSS_BCE_WITH_LOGITS
    int FASTGD_OK
    int FASTGD_PRECONDITION
    int FASTGD_NO_MEMORY

    ctypedef struct fastgd_engine_call:
        int abi
        int dtype
        int loss
        int64_t in_features
        int64_t out_features
        void* engine
        int (*step)(void* engine, const void* X, int64_t n, const int64_t* labels, const void* values,
                    const void* weights, double* loss, char* err, size_t errlen) noexcept nogil


cdef inline bint carray(cnp.ndarray a, int typenum) noexcept:
    """a has the dtype typenum in native byte order and is C-contiguous and aligned."""
    return cnp.PyArray_TYPE(a) == typenum and cnp.PyArray_ISCARRAY_RO(a)


cdef bint labels_ok(const int64_t* p, Py_ssize_t n, int64_t classes) noexcept nogil:
    """Every label in [0, classes) (class_labels in src/cpp/bindings/checks.cpp)."""
    cdef Py_ssize_t i
    for i in range(n):
        if p[i] < 0 or p[i] >= classes:
            return False
    return True


cdef bint values_ok(const void* data, Py_ssize_t m, bint f32, bint unit) noexcept nogil:
    """Every value in [0, 1] (unit) or finite and >= 0, NaN failing both (the checks of
    Engine.step's check_target_values and sample_weight)."""
    cdef Py_ssize_t i
    cdef double x
    cdef double hi = 1.0 if unit else 1.7976931348623157e308
    for i in range(m):
        x = (<const float*>data)[i] if f32 else (<const double*>data)[i]
        if not (x >= 0 and x <= hi):
            return False
    return True


def unchanged(list groups):
    """True when each group's ``group`` dict holds, in order, the very objects of its ``seen``
    tuple (``fastgd.fused`` asks this before every step: False sends it to the full comparison,
    which also sees equal values in new objects)."""
    cdef Py_ssize_t pos, i
    cdef PyObject* key
    cdef PyObject* value
    cdef tuple seen
    cdef dict d
    for g in groups:
        d, seen = g.group, g.seen
        if PyDict_Size(d) != len(seen):
            return False
        pos = i = 0
        while PyDict_Next(d, &pos, &key, &value):
            if value != <PyObject*>seen[i]:
                return False
            i += 1
    return True


cdef struct Args:
    const void* X
    Py_ssize_t n
    const int64_t* labels
    const void* values
    const void* weights


cdef class EngineStep:
    """``engine.step`` of one pybind11 ``fastgd._core.Engine`` (bound), called from Cython.

    ``step(X, y, sample_weight=None) -> float``: forward, loss, backward and update, as
    ``engine.step``. ``fallbacks`` counts the calls handed to ``engine.step`` (arguments that
    need a conversion or raise). ``repeat`` is the benchmark's baseline.
    """

    cdef object engine  # keeps the pybind11 Engine, which owns the function table, alive
    cdef object _pystep
    cdef fastgd_engine_call* call
    cdef int typenum
    cdef readonly Py_ssize_t fallbacks

    def __cinit__(self, engine):
        capsule = engine._fastcall()
        self.call = <fastgd_engine_call*>PyCapsule_GetPointer(capsule, FASTGD_FASTCALL_CAPSULE)
        if self.call.abi != FASTGD_FASTCALL_ABI:
            raise ImportError(f"fastgd._fastcall expects the engine call ABI {FASTGD_FASTCALL_ABI}, "
                              f"fastgd._core gives {self.call.abi}: rebuild fastgd")
        self.engine = engine
        self._pystep = engine.step
        self.typenum = cnp.NPY_FLOAT32 if self.call.dtype == FASTGD_FLOAT32 else cnp.NPY_FLOAT64
        self.fallbacks = 0

    def step(self, X, y, sample_weight=None):
        """One fused training step; returns the batch loss (as ``Engine.step``)."""
        cdef Args a
        cdef double loss = 0
        cdef int status
        cdef char err[512]
        cdef fastgd_engine_call* c = self.call
        if not self._take(X, y, sample_weight, &a):
            self.fallbacks += 1
            return self._pystep(X, y, sample_weight)
        with nogil:
            status = c.step(c.engine, a.X, a.n, a.labels, a.values, a.weights, &loss, err, sizeof(err))
        if status != FASTGD_OK:
            _raise(status, err)
        return loss

    def repeat(self, X, y, sample_weight=None, Py_ssize_t count=1):
        """``count`` training steps on the same batch in one call (the arguments taken once, the
        GIL released once): the C++ step's own time, the baseline of ``bench/bench_binding.py``.
        Returns the last step's loss. The arguments must be ones ``step`` takes as they are."""
        cdef Args a
        cdef double loss = 0
        cdef int status = FASTGD_OK
        cdef char err[512]
        cdef Py_ssize_t i
        cdef fastgd_engine_call* c = self.call
        if count < 1:
            raise ValueError(f"EngineStep.repeat: count must be >= 1, got {count}")
        if not self._take(X, y, sample_weight, &a):
            raise ValueError("EngineStep.repeat: X, y and sample_weight must be arrays step() takes without "
                             "conversion (the net's dtype, C-contiguous, valid shapes and values)")
        with nogil:
            for i in range(count):
                status = c.step(c.engine, a.X, a.n, a.labels, a.values, a.weights, &loss, err, sizeof(err))
                if status != FASTGD_OK:
                    break
        if status != FASTGD_OK:
            _raise(status, err)
        return loss

    cdef bint _take(self, X, y, sample_weight, Args* a) noexcept:
        """Fill a from arguments Engine.step takes as they are and accepts; False for any other
        (then Engine.step converts or raises)."""
        cdef fastgd_engine_call* c = self.call
        cdef int typenum = self.typenum
        cdef bint f32 = c.dtype == FASTGD_FLOAT32
        cdef cnp.ndarray x, t, w
        cdef Py_ssize_t n
        if not (cnp.PyArray_Check(X) and cnp.PyArray_Check(y)):
            return False
        x, t = <cnp.ndarray>X, <cnp.ndarray>y
        if not (carray(x, typenum) and cnp.PyArray_NDIM(x) == 2 and cnp.PyArray_DIM(x, 1) == c.in_features):
            return False
        n = cnp.PyArray_DIM(x, 0)
        if n == 0:
            return False
        a.X = cnp.PyArray_DATA(x)
        a.n = n
        a.labels = NULL
        a.values = NULL
        a.weights = NULL
        if c.loss == FASTGD_LOSS_CROSS_ENTROPY and cnp.PyArray_NDIM(t) == 1:
            if not (carray(t, cnp.NPY_INT64) and cnp.PyArray_DIM(t, 0) == n):
                return False
            a.labels = <const int64_t*>cnp.PyArray_DATA(t)
            if not labels_ok(a.labels, n, c.out_features):
                return False
        else:
            if not carray(t, typenum):
                return False
            if not ((cnp.PyArray_NDIM(t) == 2 and cnp.PyArray_DIM(t, 0) == n and cnp.PyArray_DIM(t, 1) == c.out_features)
                    or (cnp.PyArray_NDIM(t) == 1 and cnp.PyArray_DIM(t, 0) == n and c.out_features == 1
                        and c.loss != FASTGD_LOSS_CROSS_ENTROPY)):
                return False
            a.values = cnp.PyArray_DATA(t)
            if c.loss == FASTGD_LOSS_CROSS_ENTROPY or c.loss == FASTGD_LOSS_BCE_WITH_LOGITS:
                if not values_ok(a.values, cnp.PyArray_SIZE(t), f32, c.loss == FASTGD_LOSS_BCE_WITH_LOGITS):
                    return False
        if sample_weight is not None:
            if not cnp.PyArray_Check(sample_weight):
                return False
            w = <cnp.ndarray>sample_weight
            if not (carray(w, typenum) and cnp.PyArray_NDIM(w) == 1 and cnp.PyArray_DIM(w, 0) == n):
                return False
            a.weights = cnp.PyArray_DATA(w)
            if not values_ok(a.weights, n, f32, False):
                return False
        return True


cdef _raise(int status, const char* err):
    """The engine's error as Engine.step raises it (a precondition: ValueError naming the call)."""
    message = "Engine.step: " + err.decode("utf-8", "replace")
    if status == FASTGD_PRECONDITION:
        raise ValueError(message)
    if status == FASTGD_NO_MEMORY:
        raise MemoryError(message)
    raise RuntimeError(message)
