// The switchboard: declares each area's registration and calls it, nothing else.
#include "pybind.hpp"

namespace fastgd {
void register_dense(py::module_& m);
void register_activations(py::module_& m);
void register_losses(py::module_& m);
void register_optim(py::module_& m);
void register_runtime(py::module_& m);
void register_engine(py::module_& m);
void register_dropout(py::module_& m);
void register_norm(py::module_& m);
void register_sparse(py::module_& m);
}  // namespace fastgd

PYBIND11_MODULE(_core, m, py::mod_gil_not_used()) {
  m.doc() = "fastgd's C++/BLAS kernels (private: use fastgd.ops)";
  m.attr("__version__") = FASTGD_VERSION;
  fastgd::register_dense(m);
  fastgd::register_activations(m);
  fastgd::register_losses(m);
  fastgd::register_optim(m);
  fastgd::register_runtime(m);
  fastgd::register_engine(m);
  fastgd::register_dropout(m);
  fastgd::register_norm(m);
  fastgd::register_sparse(m);
}
