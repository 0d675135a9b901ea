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
 * server. Returns 0, or -1 with a message in err.
 *
 * Only requests whose Host header names the server are answered (others get
 * 403), so that no web page can read the trace through DNS rebinding: the
 * names localhost, 127.0.0.1, [::1] and the bound address (any IP address
 * when bound to 0.0.0.0 or ::; the name when addr gives one), each with the
 * server's port or none, plus the names in allow_hosts. Only GET and HEAD (others: 405). No CORS. */
int ctrace_serve_start(const char *addr, struct ctrace_view *v, ctrace_server **out, char *err,
                       size_t errlen);

struct ctrace_serve_opts {
  const char *addr;               /* as above */
  const char *const *allow_hosts; /* NULL-terminated, may be NULL: more Host
                                     names to accept; "*" accepts any Host */
  int pending;                    /* v is not indexed yet: the web files are
                                     served at once, /api/ requests wait
                                     (suspended, no thread held) for
                                     ctrace_serve_ready */
};
int ctrace_serve_start_opts(const struct ctrace_serve_opts *o, struct ctrace_view *v,
                            ctrace_server **out, char *err, size_t errlen);
/* A server started pending: v is indexed and may be read (ok), or never
 * will be (ok 0: the requests waiting and all later ones get 503). The
 * requests waiting are answered now. Called once, before
 * ctrace_serve_stop (which answers those still waiting 503 itself). */
void ctrace_serve_ready(ctrace_server *s, int ok);
/* API requests waiting for ctrace_serve_ready now (tests). */
unsigned ctrace__serve_waiting(ctrace_server *s);
/* The port it listens on, and the URL to open ("http://127.0.0.1:PORT/"). */
unsigned ctrace_serve_port(const ctrace_server *s);
const char *ctrace_serve_url(const ctrace_server *s);
/* 1 when it listens on every interface (0.0.0.0 or ::). */
int ctrace_serve_is_wildcard(const ctrace_server *s);
/* 1 when it listens on a loopback address only (127.x.x.x, ::1). */
int ctrace_serve_is_loopback(const ctrace_server *s);
/* Connections served at once (from the file descriptors available). */
unsigned ctrace_serve_max_connections(const ctrace_server *s);
void ctrace_serve_stop(ctrace_server *s);

#endif
