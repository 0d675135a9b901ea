/*
 * server.c - see server.h. libmicrohttpd with a small pool of threads; each
 * request is answered whole (the API builds its reply in memory, the web
 * files are static arrays). Only GET and HEAD. Paths are matched exactly
 * against the embedded files and the API routes: nothing touches the file
 * system, so "..", encoded or not, can only lead to a 404.
 */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "server.h"
#include "web.h"

struct ctrace_server {
  struct MHD_Daemon *d;
  struct ctrace_view *v;
  unsigned port;
  char url[128];
};

const struct ctrace_web_file *ctrace__web_find(const char *path) {
  if (strcmp(path, "/") == 0)
    path = "/index.html";
  for (const struct ctrace_web_file *f = ctrace__web_files; f->path; f++)
    if (strcmp(f->path, path) == 0)
      return f;
  return NULL;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* Decodes %XX in place, except %00, which stays as typed: a NUL would cut
 * the path short ("/%00x" would be "/"), and no file or parameter has one. */
static size_t unescape(void *cls, struct MHD_Connection *c, char *s) {
  char *w = s;
  for (const char *r = s; *r; r++) {
    int hi, lo;
    if (r[0] == '%' && (hi = hexval(r[1])) >= 0 && (lo = hexval(r[2])) >= 0 && (hi | lo)) {
      *w++ = (char)(hi << 4 | lo);
      r += 2;
    } else {
      *w++ = *r;
    }
  }
  *w = 0;
  return (size_t)(w - s);
}

static const char *get_param(void *ctx, const char *key) {
  return MHD_lookup_connection_value(ctx, MHD_GET_ARGUMENT_KIND, key);
}

static enum MHD_Result send_reply(struct MHD_Connection *conn, struct ctrace_reply *r) {
  struct MHD_Response *resp =
      MHD_create_response_from_buffer(r->len, r->body, MHD_RESPMEM_MUST_FREE);
  if (!resp) {
    free(r->body);
    return MHD_NO;
  }
  MHD_add_response_header(resp, "Content-Type", r->type ? r->type : "application/json");
  MHD_add_response_header(resp, "Cache-Control", "no-store");
  MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
  if (r->disposition[0])
    MHD_add_response_header(resp, "Content-Disposition", r->disposition);
  enum MHD_Result ret = MHD_queue_response(conn, (unsigned)r->status, resp);
  MHD_destroy_response(resp);
  return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **con_cls) {
  struct ctrace_server *s = cls;
  struct ctrace_reply r;
  memset(&r, 0, sizeof r);
  if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
    ctrace_reply_error(&r, 405, "only GET");
    return send_reply(conn, &r);
  }
  if (strncmp(url, "/api/", 5) == 0) {
    ctrace_api_handle(s->v, url, get_param, conn, &r);
    return send_reply(conn, &r);
  }
  const struct ctrace_web_file *f = ctrace__web_find(url);
  if (!f) {
    ctrace_reply_error(&r, 404, "not found");
    return send_reply(conn, &r);
  }
  struct MHD_Response *resp =
      MHD_create_response_from_buffer(f->len, (void *)f->data, MHD_RESPMEM_PERSISTENT);
  if (!resp)
    return MHD_NO;
  MHD_add_response_header(resp, "Content-Type", f->type);
  MHD_add_response_header(resp, "Cache-Control", "no-cache");
  MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
  enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_OK, resp);
  MHD_destroy_response(resp);
  return ret;
}

/* Parses addr into a socket address; 0 or -1 with err. */
static int parse_addr(const char *addr, struct sockaddr_storage *ss, socklen_t *len, char *err,
                      size_t errlen) {
  char host[256] = "127.0.0.1";
  const char *port = addr;
  if (addr && addr[0] == '[') {
    const char *e = strchr(addr, ']');
    if (!e || e[1] != ':' || (size_t)(e - addr - 1) >= sizeof host) {
      snprintf(err, errlen, "bad address '%s' (want [IPV6]:PORT)", addr);
      return -1;
    }
    memcpy(host, addr + 1, (size_t)(e - addr - 1));
    host[e - addr - 1] = 0;
    port = e + 2;
  } else if (addr && strrchr(addr, ':')) {
    const char *c = strrchr(addr, ':');
    if ((size_t)(c - addr) >= sizeof host) {
      snprintf(err, errlen, "bad address '%s'", addr);
      return -1;
    }
    if (c > addr) {
      memcpy(host, addr, (size_t)(c - addr));
      host[c - addr] = 0;
    }
    port = c + 1;
  }
  if (!port || !*port)
    port = "0";
  for (const char *p = port; *p; p++)
    if (*p < '0' || *p > '9' || p - port > 5) {
      snprintf(err, errlen, "bad port '%s'", port);
      return -1;
    }
  if (strtol(port, NULL, 10) > 65535) {
    snprintf(err, errlen, "bad port '%s'", port);
    return -1;
  }
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                           .ai_flags = AI_NUMERICSERV};
  struct addrinfo *res = NULL;
  int e = getaddrinfo(host, port, &hints, &res);
  if (e != 0 || !res) {
    snprintf(err, errlen, "cannot resolve '%s': %s", host, gai_strerror(e));
    return -1;
  }
  memcpy(ss, res->ai_addr, res->ai_addrlen);
  *len = res->ai_addrlen;
  freeaddrinfo(res);
  return 0;
}

int ctrace_serve_start(const char *addr, struct ctrace_view *v, ctrace_server **out, char *err,
                       size_t errlen) {
  struct sockaddr_storage ss;
  socklen_t slen;
  if (parse_addr(addr, &ss, &slen, err, errlen) < 0)
    return -1;
  struct ctrace_server *s = calloc(1, sizeof *s);
  if (!s) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  s->v = v;
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO;
  if (ss.ss_family == AF_INET6)
    flags |= MHD_USE_IPv6;
  /* Four threads: a slow answer (a profile of a big trace) does not hold up
   * the timeline's zooming. */
  s->d = MHD_start_daemon(flags, 0, NULL, NULL, handle, s, MHD_OPTION_SOCK_ADDR,
                          (struct sockaddr *)&ss, MHD_OPTION_THREAD_POOL_SIZE, 4u,
                          MHD_OPTION_CONNECTION_TIMEOUT, 120u, MHD_OPTION_UNESCAPE_CALLBACK,
                          unescape, NULL, MHD_OPTION_END);
  if (!s->d) {
    snprintf(err, errlen, "cannot listen on %s (address in use, or not an address of this host?)",
             addr ? addr : "127.0.0.1:0");
    free(s);
    return -1;
  }
  const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
  s->port = info ? info->port : 0;
  char host[INET6_ADDRSTRLEN] = "127.0.0.1";
  if (ss.ss_family == AF_INET)
    inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host, sizeof host);
  else
    inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, host, sizeof host);
  if (strcmp(host, "0.0.0.0") == 0)
    snprintf(host, sizeof host, "127.0.0.1"); /* the URL to open locally */
  if (ss.ss_family == AF_INET6)
    snprintf(s->url, sizeof s->url, "http://[%s]:%u/", strcmp(host, "::") ? host : "::1", s->port);
  else
    snprintf(s->url, sizeof s->url, "http://%s:%u/", host, s->port);
  *out = s;
  return 0;
}

unsigned ctrace_serve_port(const ctrace_server *s) { return s->port; }
const char *ctrace_serve_url(const ctrace_server *s) { return s->url; }

void ctrace_serve_stop(ctrace_server *s) {
  if (!s)
    return;
  MHD_stop_daemon(s->d);
  free(s);
}
