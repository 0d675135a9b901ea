// mock-server.mjs - a stand-in for `ctrace view`: serves web/ and canned JSON
// of the HTTP API (mock-data.mjs), so the viewer can be developed and its UI
// tested in a second without a trace or a C build. Not a reference for the
// real server's behaviour beyond the JSON shapes and error conventions
// (400 {"error": ...} for bad parameters, 404 for unknown paths).
//
//   node tests/browser/mock-server.mjs [PORT]     # then open the printed URL
//   node tests/browser/mock-server.mjs PORT --api http://127.0.0.1:8080/
//       serves web/ from disk but forwards /api/ to a running `ctrace view`:
//       real data, and web/ edits show on reload without rebuilding ctrace.
//
// From a test: const m = await startMock({data}); ... m.url ...; await m.close();
import http from 'node:http';
import fs from 'node:fs/promises';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { makeMockData } from './mock-data.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const WEB_DIR = path.resolve(HERE, '../../web');

const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json',
};

function send(res, status, body, type = 'application/json') {
  res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store' });
  res.end(typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body));
}

const PROFILE_KINDS = ['sync', 'net', 'syscall', 'poll', 'sleep'];

function api(data, url, res, failures) {
  const q = url.searchParams;
  if (failures[url.pathname]) {
    const [status, error] = failures[url.pathname];
    return send(res, status, { error });
  }
  switch (url.pathname) {
    case '/api/summary':
      return send(res, 200, data.summary);
    case '/api/threads':
      return send(res, 200, data.threads);
    case '/api/tasks':
      return send(res, 200, data.tasks);
    case '/api/instances': {
      const kind = q.get('kind');
      const name = q.get('name');
      const limit = q.has('limit') ? Number(q.get('limit')) : 100;
      if (kind !== 'task' && kind !== 'region') return send(res, 400, { error: `kind must be task or region, not '${kind}'` });
      if (!name) return send(res, 400, { error: 'missing name' });
      if (!Number.isInteger(limit) || limit < 1) return send(res, 400, { error: 'limit must be a positive integer' });
      const list = [...((data.instances[kind] || {})[name] || [])].sort((a, b) => b.dur_ns - a.dur_ns).slice(0, limit);
      return send(res, 200, { instances: list });
    }
    case '/api/profile': {
      const kind = q.get('kind');
      if (!PROFILE_KINDS.includes(kind)) return send(res, 400, { error: `unknown profile kind '${kind}'` });
      return send(res, 200, data.profiles[kind]);
    }
    case '/api/pprof': {
      const kind = q.get('kind');
      if (!PROFILE_KINDS.includes(kind)) return send(res, 400, { error: `unknown profile kind '${kind}'` });
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Disposition': `attachment; filename="ctrace-${kind}.pb.gz"` });
      return res.end(zlib.gzipSync(Buffer.alloc(0)));
    }
    default:
      return send(res, 404, { error: `no such endpoint: ${url.pathname}` });
  }
}

async function forward(upstream, url, res) {
  try {
    const r = await fetch(new URL(url.pathname + url.search, upstream));
    const headers = { 'Content-Type': r.headers.get('content-type') || 'application/octet-stream', 'Cache-Control': 'no-store' };
    if (r.headers.get('content-disposition')) headers['Content-Disposition'] = r.headers.get('content-disposition');
    res.writeHead(r.status, headers);
    res.end(Buffer.from(await r.arrayBuffer()));
  } catch (e) {
    send(res, 502, { error: `upstream ${upstream}: ${e.message}` });
  }
}

async function override(upstream, url, res, fn) {
  let body = null;
  try {
    const r = await fetch(new URL(url.pathname + url.search, upstream));
    if (r.ok) body = await r.json();
  } catch {
    // upstream has no answer: fn makes one
  }
  send(res, 200, fn(body, url));
}

async function staticFile(webDir, url, res) {
  let rel = decodeURIComponent(url.pathname);
  if (rel === '/') rel = '/index.html';
  const file = path.resolve(webDir, `.${rel}`);
  if (!file.startsWith(webDir + path.sep)) return send(res, 404, { error: 'not found' });
  try {
    const body = await fs.readFile(file);
    return send(res, 200, body, MIME[path.extname(file)] || 'application/octet-stream');
  } catch {
    return send(res, 404, { error: 'not found' });
  }
}

/**
 * Start the mock on 127.0.0.1 (port 0: any free port). Resolves to {url, close()}.
 * data: the canned answers (makeMockData()); webDir: the files to serve;
 * failures: {'/api/threads': [500, 'message']} to make an endpoint fail.
 * apiUpstream: a running `ctrace view` to forward /api/ to; overrides:
 * {'/api/summary': (upstreamAnswer) => answer} rewrites one JSON endpoint's
 * answer (upstreamAnswer is null when upstream has none).
 */
export function startMock({ port = 0, data = makeMockData(), webDir = WEB_DIR, failures = {}, apiUpstream = null, overrides = {} } = {}) {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, { error: 'method not allowed' });
    if (overrides[url.pathname] && apiUpstream) return override(apiUpstream, url, res, overrides[url.pathname]);
    if (url.pathname.startsWith('/api/') && apiUpstream) return forward(apiUpstream, url, res);
    if (url.pathname.startsWith('/api/')) return api(data, url, res, failures);
    return staticFile(webDir, url, res);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const { port: p } = server.address();
      resolve({
        url: `http://127.0.0.1:${p}/`,
        close: () => new Promise((r) => server.close(() => r())),
      });
    });
  });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const ai = process.argv.indexOf('--api');
  const m = await startMock({ port: Number(process.argv[2] || 0), apiUpstream: ai > 0 ? process.argv[ai + 1] : null });
  console.log(`mock ctrace view: ${m.url}`);
}
