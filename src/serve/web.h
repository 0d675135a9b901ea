/*
 * web.h - the viewer's files (everything under web/), embedded in the binary at build time
 * by gen-web.py. The server serves these and nothing else: there is no
 * file system access, so no path can reach outside them.
 */
#ifndef CTRACE_SERVE_WEB_H
#define CTRACE_SERVE_WEB_H

#include <stddef.h>

struct ctrace_web_file {
  const char *path; /* "/index.html" */
  const char *type; /* Content-Type */
  const unsigned char *data;
  size_t len;
};

/* Ends with an entry whose path is NULL. */
extern const struct ctrace_web_file ctrace__web_files[];

/* The file at path ("/" is "/index.html"), or NULL. */
const struct ctrace_web_file *ctrace__web_find(const char *path);

#endif
