/**
 * Reference memory API (seed 000's :13370 service). Its memory provider comes from the
 * environment at start, as an ECS task's would from SSM: MEMORY_PROVIDER=native stores in its
 * own file; MEMORY_PROVIDER=http forwards to the sidecar at MEMORY_HTTP_BASE. It refuses to start
 * on a bad provider value, or with `http` when the sidecar cannot be reached (fail fast).
 */
import { createServer } from 'node:http';
import { env, kOf, readJson, send, textOf } from './http';
import { memoryContextRoutes } from './memory-context';
import { MemoryStore } from './store';

const port = Number(env('PORT'));
const provider = env('MEMORY_PROVIDER');
const httpBase = process.env.MEMORY_HTTP_BASE?.replace(/\/+$/, '');
const maintenance = process.env.MAINTENANCE_MODE === 'on';
const sidecarKey = process.env.SIDECAR_API_KEY;
// Seed 002: the database connection in use (DATABASE_URL comes from the secret it names).
const database = process.env.DATABASE_ACTIVE;
const native = new MemoryStore(env('DATA_FILE'));
// A bad build (a task definition revision of the rehearsal): this percentage of memory requests
// fail with a 500, deterministically (every n-th request), and each waits this long first.
// Seed 001's AUTONOMOUS_MODE, read at start like the app's .env: the reference API models turning
// it on as a bad setting (the config rollback rehearsal's culprit): one memory request in four fails.
const autonomousMode = process.env.AUTONOMOUS_MODE === 'true';
const faultPercent = Math.max(Number(process.env.FAULT_ERROR_PERCENT ?? '0'), autonomousMode ? 25 : 0);
const faultDelayMs = Number(process.env.FAULT_DELAY_MS ?? '0');
let memoryRequests = 0;
/** Whether this memory request is one the bad build fails (none when FAULT_ERROR_PERCENT is 0). */
function faulty(): boolean {
  memoryRequests += 1;
  return (
    faultPercent > 0 &&
    Math.floor(memoryRequests * (faultPercent / 100)) >
      Math.floor((memoryRequests - 1) * (faultPercent / 100))
  );
}
// Seed 003's /api/v1 endpoints, behind the features/memory-context flag (read per request, cached).
const memoryContext = memoryContextRoutes({ env: process.env, dataFile: env('DATA_FILE'), maintenance });

if (provider !== 'native' && provider !== 'http') {
  console.error(JSON.stringify({ msg: 'invalid MEMORY_PROVIDER', provider }));
  process.exit(1);
}
if (provider === 'http' && !httpBase) {
  console.error(JSON.stringify({ msg: 'MEMORY_HTTP_BASE is required with MEMORY_PROVIDER=http' }));
  process.exit(1);
}

async function sidecar(path: string, init?: { method: 'POST'; body: unknown }): Promise<Response> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (sidecarKey) headers.authorization = `Bearer ${sidecarKey}`;
  return fetch(`${httpBase}${path}`, {
    method: init?.method ?? 'GET',
    headers,
    body: init ? JSON.stringify(init.body) : undefined,
    signal: AbortSignal.timeout(2_000),
  });
}

async function sidecarHealthy(): Promise<boolean> {
  try {
    return (await sidecar('/health')).ok;
  } catch {
    return false;
  }
}

const server = createServer(async (req, res) => {
  const url = new URL(req.url ?? '/', 'http://api');
  try {
    if (req.method === 'GET' && url.pathname === '/health') {
      if (provider === 'native')
        return send(res, 200, { status: 'ok', provider, maintenance, database, autonomousMode });
      const ok = await sidecarHealthy();
      return send(res, ok ? 200 : 503, {
        status: ok ? 'ok' : 'degraded',
        provider,
        maintenance,
        database,
        sidecar: ok ? 'ok' : 'unreachable',
      });
    }
    if (await memoryContext(req, res, url)) return;
    if (maintenance && url.pathname.startsWith('/memories')) {
      return send(res, 503, { error: 'maintenance mode', provider });
    }
    if (url.pathname.startsWith('/memories') && (faultPercent > 0 || faultDelayMs > 0)) {
      if (faultDelayMs > 0) await new Promise((r) => setTimeout(r, faultDelayMs));
      if (faulty()) return send(res, 500, { error: 'injected fault (bad build)', provider });
    }
    if (req.method === 'POST' && url.pathname === '/memories') {
      const text = textOf(await readJson(req));
      if (!text) return send(res, 400, { error: 'text required' });
      if (provider === 'native') return send(res, 201, { id: native.add(text).id, provider });
      const out = await sidecar('/remember', { method: 'POST', body: { text } });
      if (!out.ok) return send(res, 502, { error: `sidecar answered ${out.status}`, provider });
      const { id } = (await out.json()) as { id: string };
      return send(res, 201, { id, provider });
    }
    if (req.method === 'GET' && url.pathname === '/memories/recall') {
      const q = url.searchParams.get('q') ?? '';
      const k = kOf(url);
      if (provider === 'native') return send(res, 200, { provider, results: native.recall(q, k) });
      const out = await sidecar(`/recall?q=${encodeURIComponent(q)}&k=${k}`);
      if (!out.ok) return send(res, 502, { error: `sidecar answered ${out.status}`, provider });
      const { results } = (await out.json()) as { results: unknown[] };
      return send(res, 200, { provider, results });
    }
    send(res, 404, { error: 'not found' });
  } catch (err) {
    send(res, 502, { error: (err as Error).message, provider });
  }
});

async function main(): Promise<void> {
  if (provider === 'http' && !(await sidecarHealthy())) {
    console.error(JSON.stringify({ msg: 'sidecar unreachable at start; refusing to serve', httpBase }));
    process.exit(1);
  }
  server.listen(port, '127.0.0.1', () =>
    console.log(JSON.stringify({ msg: 'api listening', port, provider })),
  );
}
process.on('SIGTERM', () => server.close(() => process.exit(0)));
void main();
