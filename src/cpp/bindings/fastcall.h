// The fused step of one fastgd._core.Engine as a plain C function table, for the package's Cython
// extension (src/cython/_fastcall.pyx). pybind11's Engine hands it out in a PyCapsule
// (Engine._fastcall()), so the caller steps the very engine _core built, with _core's one copy of
// the kernels and of the thread pool. C, not C++: Cython reads it as it is.
#ifndef FASTGD_FASTCALL_H
#define FASTGD_FASTCALL_H

#include <stddef.h>
#include <stdint.h>

#define FASTGD_FASTCALL_CAPSULE "fastgd._core.EngineCall"
#define FASTGD_FASTCALL_ABI 1

// dtype
enum { FASTGD_FLOAT32 = 0, FASTGD_FLOAT64 = 1 };
// loss: which target checks apply (those of the pybind11 Engine.step)
enum { FASTGD_LOSS_REGRESSION = 0, FASTGD_LOSS_CROSS_ENTROPY = 1, FASTGD_LOSS_BCE_WITH_LOGITS = 2 };
// step's return value: a C++ std::logic_error (ValueError), std::bad_alloc (MemoryError), any other
// exception (RuntimeError); the message is in err
enum { FASTGD_OK = 0, FASTGD_PRECONDITION = 1, FASTGD_NO_MEMORY = 2, FASTGD_ERROR = 3 };

typedef struct fastgd_engine_call {
  int abi;  // FASTGD_FASTCALL_ABI
  int dtype;
  int loss;
  int64_t in_features, out_features;
  void* engine;  // the Engine<float> or Engine<double>, owned by the Python Engine object
  // Engine<T>::step on arguments the caller has checked as the pybind11 Engine.step does: X
  // (n × in_features, C-contiguous, aligned, n > 0); either labels (n,) in [0, out_features) or
  // values (n × out_features); weights (n,) finite and >= 0, or NULL. Needs no GIL (the caller
  // keeps the arrays alive). Returns FASTGD_OK with the batch loss in *loss, or an error code with
  // a NUL-terminated message in err (at most errlen bytes).
  int (*step)(void* engine, const void* X, int64_t n, const int64_t* labels, const void* values,
              const void* weights, double* loss, char* err, size_t errlen);
} fastgd_engine_call;

#endif  // FASTGD_FASTCALL_H
