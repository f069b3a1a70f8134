#include "parallel.hpp"

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "blas.hpp"

namespace fastgd {

namespace {

auto noop = [](int) {};  // the job before the first one

// One job at a time: the caller publishes it as a new generation and takes tasks itself; woken
// workers join while slots remain and take task indices from `next_`. When the caller runs out
// of tasks it closes the slots and waits for the workers that joined, so no worker ever sees a
// finished job. Workers are detached and live until the process ends.
class Pool {
 public:
  void run(int tasks, int threads, TaskRef f) {
    std::unique_lock<std::mutex> busy(busy_, std::try_to_lock);
    if (!busy.owns_lock()) {  // another thread is using the pool: run here
      for (int t = 0; t < tasks; ++t) f(t);
      return;
    }
    while (workers_ < threads - 1) {
      std::thread([this, seen = generation_] { loop(seen); }).detach();
      ++workers_;
    }
    {
      std::lock_guard<std::mutex> lock(m_);
      job_ = f;
      tasks_ = tasks;
      next_.store(0, std::memory_order_relaxed);
      slots_ = threads - 1;
      ++generation_;
    }
    wake_.notify_all();
    work();
    std::unique_lock<std::mutex> lock(m_);
    slots_ = 0;
    done_.wait(lock, [&] { return active_ == 0; });
  }

 private:
  void loop(uint64_t seen) {
    std::unique_lock<std::mutex> lock(m_);
    for (;;) {
      wake_.wait(lock, [&] { return generation_ != seen; });
      seen = generation_;
      if (slots_ == 0) continue;
      --slots_, ++active_;
      lock.unlock();
      work();
      lock.lock();
      if (--active_ == 0) done_.notify_one();
    }
  }

  void work() {
    for (int t; (t = next_.fetch_add(1, std::memory_order_relaxed)) < tasks_;) job_(t);
  }

  std::mutex busy_, m_;
  std::condition_variable wake_, done_;
  TaskRef job_{noop};
  int tasks_ = 0, slots_ = 0, active_ = 0, workers_ = 0;
  uint64_t generation_ = 0;
  std::atomic<int> next_{0};
};

std::atomic<Pool*> g_pool{nullptr};

// A forked child has none of the parent's worker threads: it starts a new pool on first use
// (the old one, whose mutexes may be held by threads that do not exist here, is abandoned).
void forget_pool_in_child() { g_pool.store(nullptr); }

Pool& pool() {
  static std::once_flag once;
  std::call_once(once, [] { pthread_atfork(nullptr, nullptr, forget_pool_in_child); });
  Pool* p = g_pool.load();
  if (!p) {
    Pool* fresh = new Pool();
    if (g_pool.compare_exchange_strong(p, fresh)) p = fresh;
    else delete fresh;
  }
  return *p;
}

}  // namespace

int parallel_tasks(int64_t work, int64_t grain) {
  const int64_t by_size = grain > 0 ? work / grain : work;
  return int(std::max<int64_t>(1, std::min<int64_t>(blas::get_num_threads(), by_size)));
}

void parallel_for(int tasks, TaskRef f) {
  const int threads = std::min(tasks, blas::get_num_threads());
  if (threads < 2) {
    for (int t = 0; t < tasks; ++t) f(t);
    return;
  }
  pool().run(tasks, threads, f);
}

}  // namespace fastgd
