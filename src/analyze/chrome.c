/*
 * chrome.c - see chrome.h.
 */
#include "chrome.h"

int ctrace_chrome_write(const ctrace_reader *r, ctrace_symbolizer *sym, FILE *out) {
  (void)r;
  (void)sym;
  (void)out;
  return -1; /* not yet */
}
