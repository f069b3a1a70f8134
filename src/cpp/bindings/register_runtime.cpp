#include "pybind.hpp"
// (pybind.hpp first: it sets the py alias used below)
#include "blas.hpp"

namespace fastgd {

void register_runtime(py::module_& m) {
  m.def("set_num_threads", [](int n) {
    if (n < 1) throw py::value_error("set_num_threads: n must be >= 1, got " + std::to_string(n));
    blas::set_num_threads(n);
  }, "n"_a, "Set the number of threads fastgd's OpenBLAS uses.");
  m.def("get_num_threads", &blas::get_num_threads, "The number of threads fastgd's OpenBLAS uses.");
  m.def("blas_config", [] { return std::string(blas::config()); }, "OpenBLAS build configuration string.");
  m.def("blas_corename", [] { return std::string(blas::corename()); }, "The CPU kernel OpenBLAS selected.");
}

}  // namespace fastgd
