// cxx_check.cpp - ctrace.h compiles and works from C++ (built when a C++
// compiler is present; run by the test suite).
#include <ctrace.h>

#include <cstdio>
#include <string>

static int work(int n) {
  CTRACE_REGION("cxx.work");
  int s = 0;
  for (int i = 0; i < n; i++)
    s += i;
  return s;
}

int main(int argc, char **argv) {
  const char *path = argc > 1 ? argv[1] : "cxx.ctrace";
  if (int err = ctrace_start_path(path)) {
    std::fprintf(stderr, "cxx_check: %s\n", ctrace_strerror(err));
    return 1;
  }
  ctrace_task_t t = ctrace_task_begin(CTRACE_TASK_NONE, "cxx.task");
  std::string msg = "from C++";
  ctrace_log_str(t, "cxx", msg.c_str());
  int s = work(10);
  ctrace_task_end(t);
  return ctrace_stop() == 0 && s == 45 ? 0 : 1;
}
