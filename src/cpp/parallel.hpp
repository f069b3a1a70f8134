// A small persistent thread pool for the memory-bound loops that pay for a second core (the
// linear-regression pass over X, optimizer updates of large buffers). GEMMs thread inside OpenBLAS; this pool is separate, sleeps on
// a condition variable between jobs (no spinning next to OpenBLAS's threads), follows
// blas::get_num_threads() (so fastgd.set_num_threads and threadpoolctl limit it too), and is
// rebuilt in a forked child.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <type_traits>

namespace fastgd {

// A non-owning reference to a callable taking the task index (std::function would allocate for
// captures over 16 bytes: a training step must not allocate).
// The callable must outlive the reference (a lambda passed straight to parallel_for does).
class TaskRef {
 public:
  template <typename F, typename = std::enable_if_t<!std::is_same_v<std::decay_t<F>, TaskRef>>>
  TaskRef(F&& f)  // NOLINT(google-explicit-constructor): a lambda converts implicitly
      : obj_(const_cast<void*>(static_cast<const void*>(std::addressof(f)))),
        call_([](void* o, int t) { (*static_cast<std::remove_reference_t<F>*>(o))(t); }) {}
  void operator()(int t) const { call_(obj_, t); }

 private:
  void* obj_;
  void (*call_)(void*, int);
};

// Run f(t) for every t in [0, tasks), spread over up to blas::get_num_threads() threads (the
// calling thread takes a share). Runs everything on the caller when tasks < 2, when one thread is
// allowed, or when another call is using the pool. f must not throw.
void parallel_for(int tasks, TaskRef f);

// How many tasks a loop over `work` elements should be split into: one per thread, but none
// below `grain` elements each (waking a thread costs ~10 µs).
int parallel_tasks(int64_t work, int64_t grain);

// f(begin, end) over [0, n) in one chunk per task (parallel_tasks(n, grain) of them), chunk
// boundaries on multiples of 64 elements (whole cache lines of float and double).
template <typename F>
void parallel_chunks(int64_t n, int64_t grain, F&& f) {
  const int tasks = parallel_tasks(n, grain);
  if (tasks < 2) {
    f(int64_t(0), n);
    return;
  }
  const int64_t chunk = ((n + tasks - 1) / tasks + 63) / 64 * 64;
  parallel_for(tasks, [&](int t) {
    const int64_t begin = std::min(n, t * chunk), end = std::min(n, begin + chunk);
    if (begin < end) f(begin, end);
  });
}

}  // namespace fastgd
