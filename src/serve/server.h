/*
 * server.h - the HTTP server of `ctrace view` (libmicrohttpd): the embedded
 * web files and the API of api.c, for one trace. Serves from its own
 * threads until stopped.
 */
#ifndef CTRACE_SERVE_SERVER_H
#define CTRACE_SERVE_SERVER_H

#include <stddef.h>

#include "view.h"

typedef struct ctrace_server ctrace_server;

/* Listens on addr ("HOST:PORT", "[V6]:PORT", ":PORT" or "PORT"; port 0 picks
 * a free one; NULL is 127.0.0.1:0) and serves v, which must outlive the
 * server. Returns 0, or -1 with a message in err. */
int ctrace_serve_start(const char *addr, struct ctrace_view *v, ctrace_server **out, char *err,
                       size_t errlen);
/* The port it listens on, and the URL to open ("http://127.0.0.1:PORT/"). */
unsigned ctrace_serve_port(const ctrace_server *s);
const char *ctrace_serve_url(const ctrace_server *s);
void ctrace_serve_stop(ctrace_server *s);

#endif
