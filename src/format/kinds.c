/*
 * kinds.c - the names behind format.h: each kind's name, field names and
 * description, indexed by code; names of wait reasons and system calls.
 * For the reader and the tools; the recorder needs none of it (format.c's
 * ctrace__kind_shapes), and a library that records does not link it: its
 * 768 pointers would be relocated, pages copied, at every traced process's
 * start.
 */
#include "format.h"

const struct ctrace_kind_info ctrace__kinds[256] = {
#define KIND_INFO(name, code, nf, bl, flds, dc) [code] = {#name, flds, dc, nf, bl},
    CTRACE_EVENT_KINDS(KIND_INFO)
#undef KIND_INFO
};

const char *ctrace__wait_reason_name(uint64_t reason) {
  switch (reason) {
#define WR_NAME(name, code, cls) case code: return #name;
    CTRACE_WAIT_REASONS(WR_NAME)
#undef WR_NAME
  }
  return "UNKNOWN";
}

const char *ctrace__wait_reason_class(uint64_t reason) {
  switch (reason) {
#define WR_CLASS(name, code, cls) case code: return cls;
    CTRACE_WAIT_REASONS(WR_CLASS)
#undef WR_CLASS
  }
  return "sync";
}

const char *ctrace__syscall_name(uint64_t call) {
  switch (call) {
#define CALL_NAME(name, code) case code: return #name;
    CTRACE_SYSCALL_CALLS(CALL_NAME)
#undef CALL_NAME
  }
  return "unknown";
}

const char *ctrace__syscall_class_name(uint64_t cls) {
  switch (cls) {
#define SC_NAME(name, code, state) case code: return state;
    CTRACE_SYSCALL_CLASSES(SC_NAME)
#undef SC_NAME
  }
  return "syscall";
}

const char *ctrace__kind_field_names(unsigned code) {
#define FN_STR(name) " " #name
  switch (code) {
#define KIND_FIELDS(name, cd, nf, bl, flds, dc)                                                    \
  case cd: {                                                                                       \
    static const char s_##name[] = "" CTRACE_FIELDS_##name(FN_STR, FN_STR);                        \
    return s_##name[0] ? s_##name + 1 : s_##name;                                                  \
  }
    CTRACE_EVENT_KINDS(KIND_FIELDS)
#undef KIND_FIELDS
  }
#undef FN_STR
  return NULL;
}

