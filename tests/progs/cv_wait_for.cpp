// cv_wait_for: N (argv[1], default 10) timed waits of 20 ms with
// std::condition_variable::wait_for on a condition that never comes true
// (libstdc++ calls pthread_cond_clockwait on the steady clock). Prints the
// number of timeouts and the condvar's address. Compiled and traced by
// tests/test-preload-real.c when g++ is installed.
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>

int main(int argc, char **argv) {
  int n = argc > 1 ? std::atoi(argv[1]) : 10;
  std::mutex m;
  std::condition_variable cv;
  bool never = false;
  int timeouts = 0;
  std::unique_lock<std::mutex> lk(m);
  for (int i = 0; i < n; i++)
    if (!cv.wait_for(lk, std::chrono::milliseconds(20), [&] { return never; }))
      timeouts++;
  std::printf("timeouts %d cond %p\n", timeouts, static_cast<void *>(cv.native_handle()));
  return 0;
}
