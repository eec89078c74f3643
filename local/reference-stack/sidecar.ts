/**
 * Reference mem0-style memory sidecar (seed 000's :7070 service): `GET /health`,
 * `POST /remember {text}`, `GET /recall?q=&k=`. When SIDECAR_API_KEY is set, the memory
 * endpoints require it as a bearer token.
 */
import { timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import { env, kOf, readJson, send, textOf } from './http';
import { MemoryStore } from './store';

const port = Number(env('PORT'));
const store = new MemoryStore(env('DATA_FILE'));
const apiKey = process.env.SIDECAR_API_KEY;

function authorized(header: string | undefined): boolean {
  if (!apiKey) return true;
  const expected = Buffer.from(`Bearer ${apiKey}`);
  const given = Buffer.from(header ?? '');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

const server = createServer(async (req, res) => {
  const url = new URL(req.url ?? '/', 'http://sidecar');
  try {
    if (req.method === 'GET' && url.pathname === '/health')
      return send(res, 200, { status: 'ok', memories: store.size });
    if (!authorized(req.headers.authorization)) return send(res, 401, { error: 'unauthorized' });
    if (req.method === 'POST' && url.pathname === '/remember') {
      const text = textOf(await readJson(req));
      if (!text) return send(res, 400, { error: 'text required' });
      const memory = store.add(text);
      return send(res, 201, { id: memory.id });
    }
    if (req.method === 'GET' && url.pathname === '/recall') {
      return send(res, 200, { results: store.recall(url.searchParams.get('q') ?? '', kOf(url)) });
    }
    send(res, 404, { error: 'not found' });
  } catch (err) {
    send(res, 400, { error: (err as Error).message });
  }
});

server.listen(port, '127.0.0.1', () => console.log(JSON.stringify({ msg: 'sidecar listening', port })));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
