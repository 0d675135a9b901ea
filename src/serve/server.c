/*
 * server.c - see server.h. libmicrohttpd with a small pool of threads; each
 * request is answered whole (the API builds its reply in memory, the web
 * files are static arrays). Only GET and HEAD. Paths are matched exactly
 * against the embedded files and the API routes: nothing touches the file
 * system, so "..", encoded or not, can only lead to a 404.
 *
 * Other web sites must not read the trace. A page the user visits can make
 * the browser send requests to 127.0.0.1, and by DNS rebinding (its own
 * name, resolved again to 127.0.0.1) read the answers as same-origin: the
 * Host header is then that name. So only Host values that name this server
 * are answered (server.h); no answer carries CORS headers, and every one
 * says Cross-Origin-Resource-Policy: same-origin. Connections are bounded
 * in number and idle time, so that idle sockets cannot lock the user out.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <dlfcn.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>

#include "server.h"
#include "web.h"

/*
 * libmicrohttpd is loaded when a server starts, not linked into the tool:
 * with it come GnuTLS and ten more libraries, whose loading cost every
 * ctrace command (`ctrace run`, `stats`, ...) about half of its start on a
 * VM, and only `ctrace view` serves. The calls below go through mhd's
 * pointers (the macros after it); the header still gives the types.
 */
#define MHD_FUNCS(X)                                                                              \
  X(MHD_start_daemon) X(MHD_stop_daemon) X(MHD_get_daemon_info) X(MHD_add_response_header)      \
  X(MHD_queue_response) X(MHD_get_connection_values) X(MHD_destroy_response)                     \
  X(MHD_create_response_from_buffer) X(MHD_lookup_connection_value) X(MHD_suspend_connection)   \
  X(MHD_resume_connection)
static struct {
#define MHD_FIELD(f) __typeof__(f) *p_##f;
  MHD_FUNCS(MHD_FIELD)
#undef MHD_FIELD
} mhd;
#define MHD_start_daemon (mhd.p_MHD_start_daemon)
#define MHD_stop_daemon (mhd.p_MHD_stop_daemon)
#define MHD_get_daemon_info (mhd.p_MHD_get_daemon_info)
#define MHD_add_response_header (mhd.p_MHD_add_response_header)
#define MHD_queue_response (mhd.p_MHD_queue_response)
#define MHD_get_connection_values (mhd.p_MHD_get_connection_values)
#define MHD_destroy_response (mhd.p_MHD_destroy_response)
#define MHD_create_response_from_buffer (mhd.p_MHD_create_response_from_buffer)
#define MHD_lookup_connection_value (mhd.p_MHD_lookup_connection_value)
#define MHD_suspend_connection (mhd.p_MHD_suspend_connection)
#define MHD_resume_connection (mhd.p_MHD_resume_connection)

static pthread_once_t mhd_once = PTHREAD_ONCE_INIT;
static const char *mhd_missing; /* NULL: loaded */
static char mhd_why[256];

static void mhd_load(void) {
  void *h = dlopen("libmicrohttpd.so.12", RTLD_NOW | RTLD_LOCAL);
  if (!h)
    h = dlopen("libmicrohttpd.so", RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char *e = dlerror();
    snprintf(mhd_why, sizeof mhd_why, "cannot load libmicrohttpd (Debian: apt-get install "
             "libmicrohttpd12): %s", e ? e : "not found");
    mhd_missing = mhd_why;
    return;
  }
#define MHD_SYM(f)                                                                                \
  if (!(*(void **)&mhd.p_##f = dlsym(h, #f))) {                                                   \
    snprintf(mhd_why, sizeof mhd_why, "libmicrohttpd has no %s", #f);                             \
    mhd_missing = mhd_why;                                                                        \
    return;                                                                                       \
  }
  MHD_FUNCS(MHD_SYM)
#undef MHD_SYM
}

/* An idle connection is closed after this long. */
#define SERVE_IDLE_TIMEOUT_S 60u
/* Connections at once: as many as the file descriptors allow, within. */
#define SERVE_MAX_CONNECTIONS 4096u
#define SERVE_MIN_CONNECTIONS 64u
/* Per client address, when not on loopback (where everyone is 127.0.0.1). */
#define SERVE_PER_IP_CONNECTIONS 64u

/*
 * Answers that depend on nothing but the trace (the pages' first requests:
 * summary, threads, tasks, the four profiles of the whole trace) are
 * computed once and kept: the trace cannot change under the server (a file
 * changed on disk makes every answer a 409 instead, see view.h), and
 * computing them takes seconds on a big trace. A thread of low priority
 * computes them once the index is ready, so that the pages are ready
 * when the user clicks them; a request that comes first computes its own
 * (the other waits for it, never computes it twice).
 */
struct cached {
  const char *path; /* the API path */
  const char *kind; /* the one parameter "kind" it takes, or NULL: none */
  pthread_mutex_t lock;
  int done;
  struct ctrace_reply r; /* a 200 answer, when done */
};
static const struct {
  const char *path, *kind;
} cacheable[] = {
    {"/api/summary", NULL},         {"/api/threads", NULL},       {"/api/tasks", NULL},
    {"/api/profile", "sync"},       {"/api/profile", "net"},      {"/api/profile", "syscall"},
    {"/api/profile", "sleep"},      {"/api/profile", "poll"},
};
#define NCACHED (sizeof cacheable / sizeof cacheable[0])

/* Answers with parameters that are dear to compute (/api/instances, a
 * profile of a range or a thread), by their exact query: the few last ones.
 * A page that comes back asks the same again. */
#define NDYN 32
#define DYN_MAX_BODY (4u << 20)
struct dyn {
  char *key; /* "path?k=v&k=v", as the request gave them */
  struct ctrace_reply r;
  uint64_t used;
};

struct ctrace_server {
  struct MHD_Daemon *d;
  struct cached cache[NCACHED];
  pthread_mutex_t dyn_lock;
  struct dyn dyn[NDYN];
  uint64_t dyn_clock;
  pthread_t warm;
  int warm_started;
  pthread_mutex_t warm_lock;
  pthread_cond_t warm_cond; /* (CLOCK_MONOTONIC) go, stopping or view_state was set */
  int go;                   /* a timeline answer was sent */
  int stopping;
  /* Whether v can be read (ctrace_serve_ready): the server of ctrace view
   * listens before the trace is indexed. An API request that comes before
   * is suspended (MHD_suspend_connection: it leaves its pooled thread free
   * for the other connections that thread serves, the page's own files)
   * and kept in waiting, all under warm_lock; they are resumed when the
   * index is ready or will never be, and MHD asks handle() again. */
  int view_state;                 /* VIEW_* (atomic; set under warm_lock) */
  struct MHD_Connection **waiting; /* suspended, not yet resumed */
  size_t nwaiting, waiting_cap;
  unsigned unanswered;            /* suspended once, not yet completed */
  pthread_cond_t answered_cond;   /* (warm_lock) unanswered went down */
  struct ctrace_view *v;
  unsigned port;
  int family;
  unsigned char addr[16]; /* the bound address, network order */
  int wildcard;           /* 0.0.0.0 or :: */
  int loopback;
  char **allow;           /* --allow-host names; "*" in it: any Host */
  size_t nallow;
  int allow_any;
  unsigned max_connections;
  char url[128];
};

/* What an API request finds of the view. */
enum { VIEW_PENDING, VIEW_READY, VIEW_FAILED, VIEW_STOPPING };
/* *con_cls of a connection that was suspended (counted in unanswered). */
static char was_suspended;

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

/* Headers of every answer. No Access-Control-* header, ever: no other
 * origin may read an answer, and the resource policy keeps other sites
 * from even embedding one. */
static void common_headers(struct MHD_Response *resp) {
  MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
  MHD_add_response_header(resp, "Cross-Origin-Resource-Policy", "same-origin");
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
  common_headers(resp);
  if (r->status == MHD_HTTP_METHOD_NOT_ALLOWED)
    MHD_add_response_header(resp, "Allow", "GET, HEAD");
  if (r->disposition[0])
    MHD_add_response_header(resp, "Content-Disposition", r->disposition);
  enum MHD_Result ret = MHD_queue_response(conn, (unsigned)r->status, resp);
  MHD_destroy_response(resp);
  return ret;
}

/* 1 when name (no port) is an IPv4 or IPv6 literal; the bytes in out. */
static int ip_literal(const char *name, int *family, unsigned char out[16]) {
  if (inet_pton(AF_INET, name, out) == 1) {
    *family = AF_INET;
    return 1;
  }
  if (inet_pton(AF_INET6, name, out) == 1) {
    *family = AF_INET6;
    return 1;
  }
  return 0;
}

/* Whether a request's Host header names this server:
 *  - the name, case aside: localhost, 127.0.0.1, [::1], the bound address;
 *    on a wildcard address (0.0.0.0, ::) any IP address, which no web page
 *    can rebind; and the --allow-host names;
 *  - then nothing, or ":" and this server's port.
 * A name is what DNS rebinding needs, so no other name passes. */
static int host_allowed(const struct ctrace_server *s, const char *host) {
  if (!host)
    return 0;
  if (s->allow_any)
    return 1;
  size_t len = strlen(host);
  if (len == 0 || len > 255)
    return 0;
  char name[256];
  const char *port = NULL;
  if (host[0] == '[') {
    const char *e = strchr(host, ']');
    if (!e || (e[1] && e[1] != ':'))
      return 0;
    memcpy(name, host + 1, (size_t)(e - host - 1));
    name[e - host - 1] = 0;
    if (e[1] == ':')
      port = e + 2;
    if (!strchr(name, ':'))
      return 0; /* brackets hold IPv6 literals only */
  } else {
    const char *c = strchr(host, ':');
    if (c && strchr(c + 1, ':'))
      return 0; /* an IPv6 literal must be in brackets */
    size_t n = c ? (size_t)(c - host) : len;
    memcpy(name, host, n);
    name[n] = 0;
    if (c)
      port = c + 1;
  }
  if (port) {
    if (!*port || strlen(port) > 5)
      return 0;
    for (const char *p = port; *p; p++)
      if (!isdigit((unsigned char)*p))
        return 0;
    /* the port is set once the daemon (whose threads run this) has bound */
    if ((unsigned)strtoul(port, NULL, 10) != __atomic_load_n(&s->port, __ATOMIC_ACQUIRE))
      return 0;
  }
  if (!name[0])
    return 0;
  if (strcasecmp(name, "localhost") == 0)
    return 1;
  for (size_t i = 0; i < s->nallow; i++)
    if (strcasecmp(name, s->allow[i]) == 0)
      return 1;
  int fam;
  unsigned char a[16];
  if (!ip_literal(name, &fam, a))
    return 0;
  if (s->wildcard)
    return 1;
  static const unsigned char v4_loop[4] = {127, 0, 0, 1};
  static const unsigned char v6_loop[16] = {[15] = 1};
  if (fam == AF_INET && memcmp(a, v4_loop, 4) == 0)
    return 1;
  if (fam == AF_INET6 && memcmp(a, v6_loop, 16) == 0)
    return 1;
  return fam == s->family && memcmp(a, s->addr, fam == AF_INET ? 4 : 16) == 0;
}

static enum MHD_Result count_host(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value) {
  if (strcasecmp(key, "Host") == 0)
    ++*(int *)cls;
  return MHD_YES;
}

static enum MHD_Result count_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *value) {
  ++*(int *)cls;
  return MHD_YES;
}

static const char *kind_param(void *ctx, const char *key) {
  return strcmp(key, "kind") == 0 ? ctx : NULL;
}

/* The cache entry's answer, computed now when it is not yet; 0 when there
 * is none to keep (an error, or a summary while the index cache is being
 * written: it is computed again on each request). */
static int cache_fill(struct ctrace_server *s, struct cached *c) {
  pthread_mutex_lock(&c->lock);
  if (!c->done) {
    struct ctrace_reply r;
    /* the summary says whether the index cache file is written yet: not
     * kept while it is being written (it said "saving" ever after) */
    int saving = strcmp(c->path, "/api/summary") == 0 &&
                 strcmp(ctrace_view_cache_state(s->v), "saving") == 0;
    ctrace_api_handle(s->v, c->path, kind_param, (void *)c->kind, &r);
    if (r.status == 200 && !saving) {
      c->r = r;
      c->done = 1;
    } else {
      free(r.body);
    }
  }
  int done = c->done;
  pthread_mutex_unlock(&c->lock);
  return done;
}

/* The cache entry a request is for (its path and exact parameters), or NULL. */
static struct cached *cache_for(struct ctrace_server *s, struct MHD_Connection *conn,
                                const char *url) {
  int nargs = 0;
  MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, count_arg, &nargs);
  const char *kind = nargs == 1 ? get_param(conn, "kind") : NULL;
  for (size_t i = 0; i < NCACHED; i++) {
    struct cached *c = &s->cache[i];
    if (strcmp(url, c->path) != 0)
      continue;
    if (c->kind ? kind && strcmp(kind, c->kind) == 0 : nargs == 0)
      return c;
  }
  return NULL;
}

struct keybuf {
  char s[1024];
  size_t n;
  int overflow;
};
static enum MHD_Result add_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                               const char *value) {
  struct keybuf *k = cls;
  int w = snprintf(k->s + k->n, sizeof k->s - k->n, "%s%s=%s", k->n ? "&" : "?", key,
                   value ? value : "");
  if (w < 0 || (size_t)w >= sizeof k->s - k->n) {
    k->overflow = 1;
    return MHD_NO;
  }
  k->n += (size_t)w;
  return MHD_YES;
}

/* The kept answer for key, copied into *out (1), or 0. */
static int dyn_get(struct ctrace_server *s, const char *key, struct ctrace_reply *out) {
  int hit = 0;
  pthread_mutex_lock(&s->dyn_lock);
  for (size_t i = 0; i < NDYN; i++) {
    struct dyn *d = &s->dyn[i];
    if (!d->key || strcmp(d->key, key) != 0)
      continue;
    char *body = malloc(d->r.len ? d->r.len : 1);
    if (body) {
      memcpy(body, d->r.body, d->r.len);
      *out = d->r;
      out->body = body;
      d->used = ++s->dyn_clock;
      hit = 1;
    }
    break;
  }
  pthread_mutex_unlock(&s->dyn_lock);
  return hit;
}

/* Keeps a copy of a 200 answer for key, in place of the least used one. */
static void dyn_put(struct ctrace_server *s, const char *key, const struct ctrace_reply *r) {
  if (r->status != 200 || r->len > DYN_MAX_BODY)
    return;
  char *k = strdup(key), *body = malloc(r->len ? r->len : 1);
  if (!k || !body) {
    free(k);
    free(body);
    return;
  }
  memcpy(body, r->body, r->len);
  pthread_mutex_lock(&s->dyn_lock);
  struct dyn *victim = &s->dyn[0];
  for (size_t i = 0; i < NDYN; i++) {
    struct dyn *d = &s->dyn[i];
    if (d->key && strcmp(d->key, key) == 0) { /* computed twice at once */
      victim = d;
      break;
    }
    if (!d->key || d->used < victim->used)
      victim = d;
    if (!d->key)
      break;
  }
  free(victim->key);
  free(victim->r.body);
  victim->key = k;
  victim->r = *r;
  victim->r.body = body;
  victim->used = ++s->dyn_clock;
  pthread_mutex_unlock(&s->dyn_lock);
}

/* Whether path's answers go in the dynamic cache. */
static int dyn_path(const char *url) {
  return strcmp(url, "/api/instances") == 0 || strcmp(url, "/api/profile") == 0 ||
         strcmp(url, "/api/pprof") == 0;
}

/* The JSON string value after the first "\"name\":\"" following anchor in
 * body, when it has no escapes; "" otherwise. */
static void first_name(const char *body, size_t len, const char *anchor, char *out, size_t size) {
  out[0] = 0;
  const char *end = body + len;
  const char *a = memmem(body, len, anchor, strlen(anchor));
  if (!a)
    return;
  const char *n = memmem(a, (size_t)(end - a), "\"name\":\"", 8);
  if (!n)
    return;
  n += 8;
  size_t i = 0;
  for (; n + i < end && n[i] != '"' && n[i] != '\\' && n[i] != ']'; i++)
    if (i + 1 >= size)
      return;
  if (n + i >= end || n[i] != '"')
    return;
  memcpy(out, n, i);
  out[i] = 0;
}

struct warm_q {
  const char *kind, *name;
};
static const char *warm_param(void *ctx, const char *key) {
  const struct warm_q *q = ctx;
  if (strcmp(key, "kind") == 0)
    return q->kind;
  if (strcmp(key, "name") == 0)
    return q->name;
  if (strcmp(key, "limit") == 0)
    return "500";
  return NULL;
}

/* The instances the Tasks page shows first (of its first name: the first
 * task, else the first region, as /api/tasks sorts them; 500 of them), kept
 * under the key the page's request will have. */
static void warm_instances(struct ctrace_server *s) {
  struct cached *tasks = NULL;
  for (size_t i = 0; i < NCACHED; i++)
    if (strcmp(s->cache[i].path, "/api/tasks") == 0)
      tasks = &s->cache[i];
  if (!tasks || !cache_fill(s, tasks))
    return;
  char name[256];
  struct warm_q q = {"task", name};
  first_name(tasks->r.body, tasks->r.len, "\"tasks\":[", name, sizeof name);
  if (!name[0]) {
    q.kind = "region";
    first_name(tasks->r.body, tasks->r.len, "\"regions\":[", name, sizeof name);
  }
  if (!name[0] || strpbrk(name, "&=%+#? "))
    return; /* the page's URL would encode it */
  char key[512];
  snprintf(key, sizeof key, "/api/instances?kind=%s&name=%s&limit=500", q.kind, name);
  struct ctrace_reply r;
  if (dyn_get(s, key, &r)) {
    free(r.body);
    return;
  }
  ctrace_api_handle(s->v, "/api/instances", warm_param, &q, &r);
  if (!ctrace_view_changed(s->v))
    dyn_put(s, key, &r);
  free(r.body);
}

static void *warm_thread(void *arg) {
  struct ctrace_server *s = arg;
  /* nothing to compute before the index exists */
  pthread_mutex_lock(&s->warm_lock);
  while (s->view_state == VIEW_PENDING && !s->stopping)
    pthread_cond_wait(&s->warm_cond, &s->warm_lock);
  int ready = s->view_state == VIEW_READY && !s->stopping;
  pthread_mutex_unlock(&s->warm_lock);
  if (!ready)
    return NULL;
  /* The first timeline answer comes first (on two cores it would share
   * them), or 10 s, whichever is sooner (a page that never asks for the
   * timeline, a deep link to another page, computes what it asks for
   * anyway; on a loaded machine the first answer can take more than a few
   * seconds); then at the requests' own priority (a request waiting for an
   * answer being computed here must not wait for a thread of lower
   * priority). */
  struct timespec until;
  clock_gettime(CLOCK_MONOTONIC, &until);
  until.tv_sec += 10;
  pthread_mutex_lock(&s->warm_lock);
  while (!s->go && !s->stopping)
    if (pthread_cond_timedwait(&s->warm_cond, &s->warm_lock, &until) != 0)
      break;
  pthread_mutex_unlock(&s->warm_lock);
  /* each profile reads every event, the tasks every task and region: the
   * pages of the file and of a loaded index cache go after each (they stay
   * in the page cache), so the server's memory is not all of them at once */
  for (size_t i = 0; i < NCACHED && !__atomic_load_n(&s->stopping, __ATOMIC_RELAXED); i++) {
    cache_fill(s, &s->cache[i]);
    ctrace_view_release_pages();
    ctrace_view_release_index(s->v);
  }
  if (!__atomic_load_n(&s->stopping, __ATOMIC_RELAXED))
    warm_instances(s);
  ctrace_view_release_pages();
  ctrace_view_release_index(s->v);
  return NULL;
}

/* The view's state for an API request; VIEW_PENDING: the request was
 * suspended (handle returns, and is called again once it is resumed).
 * Suspending under warm_lock, where ctrace_serve_ready and stop take the
 * list, means that no connection is resumed before it was suspended, and
 * none is suspended after the list was taken. */
static int await_view(struct ctrace_server *s, struct MHD_Connection *conn, void **con_cls) {
  int st = __atomic_load_n(&s->view_state, __ATOMIC_ACQUIRE);
  if (st != VIEW_PENDING)
    return st;
  pthread_mutex_lock(&s->warm_lock);
  st = s->view_state;
  if (st == VIEW_PENDING && s->nwaiting == s->waiting_cap) {
    size_t cap = s->waiting_cap ? 2 * s->waiting_cap : 16;
    struct MHD_Connection **w = realloc(s->waiting, cap * sizeof *w);
    if (w) {
      s->waiting = w;
      s->waiting_cap = cap;
    } else {
      st = VIEW_FAILED; /* out of memory: better an error than a wait */
    }
  }
  if (st == VIEW_PENDING) {
    s->waiting[s->nwaiting++] = conn;
    if (*con_cls != &was_suspended) {
      *con_cls = &was_suspended;
      s->unanswered++;
    }
    MHD_suspend_connection(conn);
  }
  pthread_mutex_unlock(&s->warm_lock);
  return st;
}

/* A suspended connection's request is over (answered, or the client went
 * away): ctrace_serve_stop waits for those. */
static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                      enum MHD_RequestTerminationCode toe) {
  struct ctrace_server *s = cls;
  if (*con_cls != &was_suspended)
    return;
  *con_cls = NULL;
  pthread_mutex_lock(&s->warm_lock);
  s->unanswered--;
  pthread_cond_broadcast(&s->answered_cond);
  pthread_mutex_unlock(&s->warm_lock);
}

/* Resumes every suspended connection; under warm_lock, with view_state no
 * longer VIEW_PENDING (none is suspended again). */
static void resume_waiting(struct ctrace_server *s) {
  for (size_t i = 0; i < s->nwaiting; i++)
    MHD_resume_connection(s->waiting[i]);
  s->nwaiting = 0;
}

void ctrace_serve_ready(ctrace_server *s, int ok) {
  pthread_mutex_lock(&s->warm_lock);
  if (s->view_state == VIEW_PENDING) {
    __atomic_store_n(&s->view_state, ok ? VIEW_READY : VIEW_FAILED, __ATOMIC_RELEASE);
    resume_waiting(s);
    pthread_cond_broadcast(&s->warm_cond); /* warm_thread may start */
  }
  pthread_mutex_unlock(&s->warm_lock);
}

unsigned ctrace__serve_waiting(ctrace_server *s) {
  pthread_mutex_lock(&s->warm_lock);
  unsigned n = (unsigned)s->nwaiting;
  pthread_mutex_unlock(&s->warm_lock);
  return n;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **con_cls) {
  struct ctrace_server *s = cls;
  struct ctrace_reply r;
  memset(&r, 0, sizeof r);
  int nhost = 0;
  MHD_get_connection_values(conn, MHD_HEADER_KIND, count_host, &nhost);
  if (nhost != 1 ||
      !host_allowed(s, MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Host"))) {
    ctrace_reply_error(&r, 403,
                       "this Host is not the viewer's address; open the URL ctrace view printed "
                       "(or start it with --allow-host NAME)");
    return send_reply(conn, &r);
  }
  if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
    ctrace_reply_error(&r, 405, "only GET and HEAD");
    return send_reply(conn, &r);
  }
  if (strncmp(url, "/api/", 5) == 0) {
    switch (await_view(s, conn, con_cls)) {
    case VIEW_PENDING:
      return MHD_YES; /* suspended: answered when resumed */
    case VIEW_FAILED:
      ctrace_reply_error(&r, 503, "ctrace view could not read or index the trace (its terminal "
                                  "says why)");
      return send_reply(conn, &r);
    case VIEW_STOPPING:
      ctrace_reply_error(&r, 503, "ctrace view is stopping");
      return send_reply(conn, &r);
    }
    struct cached *c = cache_for(s, conn, url);
    if (c && !ctrace_view_changed(s->v) && cache_fill(s, c)) {
      struct MHD_Response *resp =
          MHD_create_response_from_buffer(c->r.len, c->r.body, MHD_RESPMEM_PERSISTENT);
      if (!resp)
        return MHD_NO;
      MHD_add_response_header(resp, "Content-Type", c->r.type ? c->r.type : "application/json");
      MHD_add_response_header(resp, "Cache-Control", "no-store");
      common_headers(resp);
      enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_OK, resp);
      MHD_destroy_response(resp);
      return ret;
    }
    struct keybuf key = {.n = 0};
    int dyn = dyn_path(url);
    if (dyn) {
      int w = snprintf(key.s, sizeof key.s, "%s", url);
      key.n = w > 0 ? (size_t)w : 0;
      MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, add_arg, &key);
      dyn = !key.overflow && key.n < sizeof key.s;
    }
    if (dyn && !ctrace_view_changed(s->v) && dyn_get(s, key.s, &r))
      return send_reply(conn, &r);
    ctrace_api_handle(s->v, url, get_param, conn, &r);
    if (dyn) {
      if (!ctrace_view_changed(s->v))
        dyn_put(s, key.s, &r);
      /* a profile read every event of the range: let the file's pages go
       * (and an index cache's, which instances read) */
      if (strcmp(url, "/api/instances") != 0)
        ctrace_view_release_pages();
      ctrace_view_release_index(s->v);
    }
    if (!__atomic_load_n(&s->go, __ATOMIC_RELAXED) && strcmp(url, "/api/timeline") == 0) {
      pthread_mutex_lock(&s->warm_lock);
      if (!s->go)
        ctrace__view_cache_go(s->v); /* the index cache's writing, too */
      s->go = 1;
      pthread_cond_signal(&s->warm_cond);
      pthread_mutex_unlock(&s->warm_lock);
    }
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
  common_headers(resp);
  enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_OK, resp);
  MHD_destroy_response(resp);
  return ret;
}

/* Parses addr into a socket address; 0 or -1 with err. */
static int parse_addr(const char *addr, struct sockaddr_storage *ss, socklen_t *len,
                      char host[256], char *err, size_t errlen) {
  snprintf(host, 256, "127.0.0.1");
  const char *port = addr;
  if (addr && addr[0] == '[') {
    const char *e = strchr(addr, ']');
    if (!e || e[1] != ':' || (size_t)(e - addr - 1) >= 256) {
      snprintf(err, errlen, "bad address '%s' (want [IPV6]:PORT)", addr);
      return -1;
    }
    memcpy(host, addr + 1, (size_t)(e - addr - 1));
    host[e - addr - 1] = 0;
    port = e + 2;
  } else if (addr && strrchr(addr, ':')) {
    const char *c = strrchr(addr, ':');
    if ((size_t)(c - addr) >= 256) {
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

/* How many connections the file descriptors left allow, within bounds. */
static unsigned connection_budget(void) {
  struct rlimit rl;
  unsigned long fds = 1024;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
    fds = rl.rlim_cur == RLIM_INFINITY ? 1ul << 20 : (unsigned long)rl.rlim_cur;
  unsigned long used = 64; /* a guess when /proc is not there */
  DIR *d = opendir("/proc/self/fd");
  if (d) {
    used = 0;
    while (readdir(d))
      used++;
    closedir(d);
  }
  unsigned long spare = 32; /* for the threads' epoll, the API's temporary files */
  unsigned long n = fds > used + spare ? fds - used - spare : 0;
  if (n > SERVE_MAX_CONNECTIONS)
    n = SERVE_MAX_CONNECTIONS;
  if (n < SERVE_MIN_CONNECTIONS)
    n = SERVE_MIN_CONNECTIONS;
  return (unsigned)n;
}

/* Adds a host name to accept; 0, or -1 with err. */
static int add_allowed(struct ctrace_server *s, const char *h, char *err, size_t errlen) {
  size_t hl = strlen(h);
  int ok = hl > 0 && hl < 256;
  for (const char *p = h; ok && *p; p++)
    ok = isalnum((unsigned char)*p) || *p == '-' || *p == '.' || *p == '_';
  if (!ok) {
    snprintf(err, errlen, "bad --allow-host '%s' (want a host name, without port)", h);
    return -1;
  }
  char **na = realloc(s->allow, (s->nallow + 1) * sizeof *na);
  if (na)
    s->allow = na;
  char *copy = na ? strdup(h) : NULL;
  if (!copy) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  s->allow[s->nallow++] = copy;
  return 0;
}

static void free_server(struct ctrace_server *s) {
  for (size_t i = 0; i < NCACHED; i++) {
    pthread_mutex_destroy(&s->cache[i].lock);
    free(s->cache[i].r.body);
  }
  for (size_t i = 0; i < NDYN; i++) {
    free(s->dyn[i].key);
    free(s->dyn[i].r.body);
  }
  pthread_mutex_destroy(&s->dyn_lock);
  for (size_t i = 0; i < s->nallow; i++)
    free(s->allow[i]);
  free(s->allow);
  free(s->waiting);
  free(s);
}

int ctrace_serve_start(const char *addr, struct ctrace_view *v, ctrace_server **out, char *err,
                       size_t errlen) {
  struct ctrace_serve_opts o = {addr, NULL, 0};
  return ctrace_serve_start_opts(&o, v, out, err, errlen);
}

int ctrace_serve_start_opts(const struct ctrace_serve_opts *o, struct ctrace_view *v,
                            ctrace_server **out, char *err, size_t errlen) {
  const char *addr = o->addr;
  struct sockaddr_storage ss;
  socklen_t slen;
  char name[256];
  pthread_once(&mhd_once, mhd_load);
  if (mhd_missing) {
    snprintf(err, errlen, "%s", mhd_missing);
    return -1;
  }
  if (parse_addr(addr, &ss, &slen, name, err, errlen) < 0)
    return -1;
  struct ctrace_server *s = calloc(1, sizeof *s);
  if (!s) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  s->v = v;
  for (size_t i = 0; i < NCACHED; i++) {
    s->cache[i].path = cacheable[i].path;
    s->cache[i].kind = cacheable[i].kind;
    pthread_mutex_init(&s->cache[i].lock, NULL);
  }
  pthread_mutex_init(&s->dyn_lock, NULL);
  for (size_t i = 0; o->allow_hosts && o->allow_hosts[i]; i++) {
    const char *h = o->allow_hosts[i];
    if (strcmp(h, "*") == 0) {
      s->allow_any = 1;
      continue;
    }
    if (add_allowed(s, h, err, errlen) < 0) {
      free_server(s);
      return -1;
    }
  }
  /* --addr NAME:PORT: that name is what the user will type */
  int fam;
  unsigned char lit[16];
  if (!ip_literal(name, &fam, lit) && add_allowed(s, name, err, errlen) < 0) {
    free_server(s);
    return -1;
  }
  s->family = ss.ss_family;
  if (ss.ss_family == AF_INET) {
    const struct in_addr *a = &((struct sockaddr_in *)&ss)->sin_addr;
    memcpy(s->addr, a, 4);
    s->wildcard = a->s_addr == htonl(INADDR_ANY);
    s->loopback = s->addr[0] == 127;
  } else {
    const struct in6_addr *a = &((struct sockaddr_in6 *)&ss)->sin6_addr;
    memcpy(s->addr, a, 16);
    s->wildcard = IN6_IS_ADDR_UNSPECIFIED(a);
    s->loopback = IN6_IS_ADDR_LOOPBACK(a);
  }
  s->max_connections = connection_budget();
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_ALLOW_SUSPEND_RESUME;
  if (ss.ss_family == AF_INET6)
    flags |= MHD_USE_IPv6;
  /* Four threads: a slow answer (a profile of a big trace) does not hold up
   * the timeline's zooming. Connections: many (idle ones cost a little
   * memory, not a thread), closed after a minute of silence; off loopback,
   * a bounded share per client address. */
  /* before the daemon: its threads take warm_lock from the first answer */
  pthread_mutex_init(&s->warm_lock, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&s->warm_cond, &ca);
  pthread_cond_init(&s->answered_cond, &ca);
  pthread_condattr_destroy(&ca);
  s->view_state = o->pending ? VIEW_PENDING : VIEW_READY;
  unsigned per_ip = s->loopback ? s->max_connections : SERVE_PER_IP_CONNECTIONS;
  s->d = MHD_start_daemon(flags, 0, NULL, NULL, handle, s, MHD_OPTION_SOCK_ADDR,
                          (struct sockaddr *)&ss, MHD_OPTION_THREAD_POOL_SIZE, 4u,
                          MHD_OPTION_CONNECTION_TIMEOUT, SERVE_IDLE_TIMEOUT_S,
                          MHD_OPTION_CONNECTION_LIMIT, s->max_connections,
                          MHD_OPTION_PER_IP_CONNECTION_LIMIT, per_ip,
                          MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL,
                          MHD_OPTION_NOTIFY_COMPLETED, completed, s, MHD_OPTION_END);
  if (!s->d) {
    snprintf(err, errlen, "cannot listen on %s (address in use, or not an address of this host?)",
             addr ? addr : "127.0.0.1:0");
    free_server(s);
    return -1;
  }
  const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
  __atomic_store_n(&s->port, info ? info->port : 0, __ATOMIC_RELEASE);
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
  s->warm_started = pthread_create(&s->warm, NULL, warm_thread, s) == 0;
  *out = s;
  return 0;
}

unsigned ctrace_serve_port(const ctrace_server *s) { return s->port; }
const char *ctrace_serve_url(const ctrace_server *s) { return s->url; }
int ctrace_serve_is_wildcard(const ctrace_server *s) { return s->wildcard; }
int ctrace_serve_is_loopback(const ctrace_server *s) { return s->loopback; }
unsigned ctrace_serve_max_connections(const ctrace_server *s) { return s->max_connections; }

void ctrace_serve_stop(ctrace_server *s) {
  if (!s)
    return;
  pthread_mutex_lock(&s->warm_lock);
  __atomic_store_n(&s->stopping, 1, __ATOMIC_RELAXED); /* warm_thread reads it unlocked */
  /* Requests still waiting for the index are resumed, and answered 503:
   * MHD must not be stopped with suspended connections (it aborts). */
  if (s->view_state == VIEW_PENDING) {
    __atomic_store_n(&s->view_state, VIEW_STOPPING, __ATOMIC_RELEASE);
    resume_waiting(s);
  }
  pthread_cond_broadcast(&s->warm_cond);
  /* Those answers are sent before the daemon closes their connections
   * (the index failed: the page shows why), for at most a second or two:
   * a client that does not read cannot hold the stop. */
  struct timespec until;
  clock_gettime(CLOCK_MONOTONIC, &until);
  until.tv_sec += 2;
  while (s->unanswered)
    if (pthread_cond_timedwait(&s->answered_cond, &s->warm_lock, &until) != 0)
      break;
  pthread_mutex_unlock(&s->warm_lock);
  if (s->warm_started)
    pthread_join(s->warm, NULL);
  MHD_stop_daemon(s->d); /* its threads take warm_lock (a first timeline answer) until here */
  pthread_mutex_destroy(&s->warm_lock);
  pthread_cond_destroy(&s->warm_cond);
  pthread_cond_destroy(&s->answered_cond);
  free_server(s);
}
