// The engine's entry points for a CSR batch: the first op (a Linear) reads the sparse rows, the
// rest of the plan runs through engine.cpp's forward_from/backward_to.
#include <algorithm>
#include <stdexcept>

#include "engine.hpp"

namespace fastgd {

template <typename T>
void Engine<T>::require_csr() const {
  require_ready();
  if (!ops_[0]->takes_csr())
    throw std::invalid_argument("a sparse (CSR) input needs a Linear first layer");
}

template <typename T>
const T* Engine<T>::run_forward_csr(const CsrRef<T>& X, bool training) {
  const int64_t n = X.rows;
  reserve(n);
  last_rows_ = n;
  OpCtx<T> ctx = context(training);
  ctx.state = states_[0].data();
  ops_[0]->forward_csr(X, outs_[0].data(), ctx);
  return forward_from(1, outs_[0].data(), n, training);
}

template <typename T>
double Engine<T>::run_backward_csr(const CsrRef<T>& X, const Targets<T>& y) {
  T* d = nullptr;  // the gradient at the first op's output
  const double loss = backward_to(1, nullptr, X.rows, y, &d);
  OpCtx<T> ctx = context(true);
  ctx.state = states_[0].data();
  ops_[0]->backward_csr(X, d, ctx);
  return loss;
}

template <typename T>
double Engine<T>::loss_and_grad_csr(const CsrRef<T>& X, const Targets<T>& y) {
  require_csr();
  run_forward_csr(X, true);
  const double loss = run_backward_csr(X, y);
  ++rng_step_;
  return loss + add_l2(y, X.rows);
}

template <typename T>
double Engine<T>::step_csr(const CsrRef<T>& X, const Targets<T>& y) {
  const double loss = loss_and_grad_csr(X, y);
  update();
  return loss;
}

template <typename T>
void Engine<T>::forward_csr(const CsrRef<T>& X, T* out, bool training) {
  require_csr();
  const T* res = run_forward_csr(X, training);
  std::copy(res, res + X.rows * width_.back(), out);
}

template double Engine<float>::step_csr(const CsrRef<float>&, const Targets<float>&);
template double Engine<double>::step_csr(const CsrRef<double>&, const Targets<double>&);
template double Engine<float>::loss_and_grad_csr(const CsrRef<float>&, const Targets<float>&);
template double Engine<double>::loss_and_grad_csr(const CsrRef<double>&, const Targets<double>&);
template void Engine<float>::forward_csr(const CsrRef<float>&, float*, bool);
template void Engine<double>::forward_csr(const CsrRef<double>&, double*, bool);

}  // namespace fastgd
