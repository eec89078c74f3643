import { afterEach, describe, expect, it } from 'vitest';
import { SmokeTestFailedError } from '../../functions/shared/errors';
import { invokeStep } from '../../functions/shared/step';
import { smokeTest } from '../../functions/smoke-test/smoke-test';
import {
  fakeDeps,
  MemorySecretStore,
  refusedUrl,
  SIDECAR_KEY_PARAMETER,
  sendJson,
  startServer,
  type TestServer,
  testConfig,
} from '../support/fakes';

const API_KEY = 'sk-live-0123456789abcdef';

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

interface MemoryServerOptions {
  readonly target: 'api' | 'sidecar';
  readonly provider?: string;
  /** Writes succeed but the recall never returns them. */
  readonly forget?: boolean;
  /** Requests without `Authorization: Bearer <key>` get 401. */
  readonly requireKey?: string;
  readonly writeStatus?: number;
}

/** A tiny memory service: POST write stores `text`, GET recall returns stored texts containing `q`. */
async function memoryServer(o: MemoryServerOptions): Promise<TestServer> {
  const routes =
    o.target === 'sidecar'
      ? { write: '/remember', recall: '/recall' }
      : { write: '/memories', recall: '/memories/recall' };
  const texts: string[] = [];
  server = await startServer((req, res) => {
    if (o.requireKey && req.headers.authorization !== `Bearer ${o.requireKey}`)
      return sendJson(res, 401, { error: 'unauthorized' });
    const url = new URL(req.path, 'http://x');
    if (req.method === 'POST' && url.pathname === routes.write) {
      if (o.writeStatus) return sendJson(res, o.writeStatus, { error: 'nope' });
      texts.push((JSON.parse(req.body) as { text: string }).text);
      return sendJson(res, 201, { id: texts.length, provider: o.provider });
    }
    if (req.method === 'GET' && url.pathname === routes.recall) {
      const q = url.searchParams.get('q') ?? '';
      const results = o.forget ? [] : texts.filter((t) => t.includes(q)).map((text) => ({ text, score: 1 }));
      return sendJson(res, 200, { provider: o.provider, results });
    }
    return sendJson(res, 404, { error: 'not found' });
  });
  return server;
}

function depsFor(url: string, extra: { key?: string; httpTimeoutMs?: number } = {}) {
  return fakeDeps({
    config: testConfig({
      endpoints: { api: url, sidecar: url },
      secrets: extra.key ? { sidecarApiKeyParameter: SIDECAR_KEY_PARAMETER } : {},
      timing: { httpTimeoutMs: extra.httpTimeoutMs ?? 1_000 },
    }),
    secrets: new MemorySecretStore(extra.key ? { [SIDECAR_KEY_PARAMETER]: extra.key } : {}),
  });
}

async function failure(input: unknown, deps: ReturnType<typeof depsFor>): Promise<Error> {
  const err = await invokeStep(smokeTest, input, deps).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(SmokeTestFailedError);
  expect((err as Error).name).toBe('SmokeTestFailedError');
  return err as Error;
}

describe('smoke-test', () => {
  it('writes a unique marker through the API and recalls it from the expected provider', async () => {
    const s = await memoryServer({ target: 'api', provider: 'http' });
    const result = await invokeStep(
      smokeTest,
      { target: 'api', marker: 'switchback-smoke-co-1', expectProvider: 'http' },
      depsFor(s.url),
    );
    expect(result).toMatchObject({ target: 'api', recalled: true, provider: 'http' });
    expect(result.marker).toMatch(/^switchback-smoke-co-1-[0-9a-f-]{36}$/);
    const [write, recall] = s.requests;
    expect(write).toMatchObject({ method: 'POST', path: '/memories' });
    expect(JSON.parse(write!.body)).toEqual({ text: result.marker });
    expect(recall!.path).toBe(`/memories/recall?q=${encodeURIComponent(result.marker)}&k=5`);
  });

  it('uses a fresh marker each run, so an old memory cannot pass for a new one', async () => {
    const s = await memoryServer({ target: 'sidecar' });
    const first = await invokeStep(smokeTest, { target: 'sidecar', marker: 'm' }, depsFor(s.url));
    const second = await invokeStep(smokeTest, { target: 'sidecar', marker: 'm' }, depsFor(s.url));
    expect(first.marker).not.toBe(second.marker);
  });

  it('sends the sidecar key from the secret store as a bearer token', async () => {
    const s = await memoryServer({ target: 'sidecar', requireKey: API_KEY });
    const deps = depsFor(s.url, { key: API_KEY });
    const result = await invokeStep(smokeTest, { target: 'sidecar', marker: 'm' }, deps);
    expect(result.recalled).toBe(true);
    expect(deps.secrets.requested).toEqual([SIDECAR_KEY_PARAMETER]);
    expect(s.requests.map((r) => r.headers.authorization)).toEqual([
      `Bearer ${API_KEY}`,
      `Bearer ${API_KEY}`,
    ]);
    expect(JSON.stringify(result)).not.toContain(API_KEY);
  });

  it('never sends the sidecar key to the API', async () => {
    const s = await memoryServer({ target: 'api' });
    const deps = depsFor(s.url, { key: API_KEY });
    await invokeStep(smokeTest, { target: 'api', marker: 'm' }, deps);
    expect(deps.secrets.requested).toEqual([]);
    expect(s.requests.map((r) => r.headers.authorization)).toEqual([undefined, undefined]);
  });

  it('fails on 401 without the key, and never puts the key in the error', async () => {
    const s = await memoryServer({ target: 'sidecar', requireKey: 'the-right-key' });
    const err = await failure({ target: 'sidecar', marker: 'm' }, depsFor(s.url, { key: API_KEY }));
    expect(err.message).toContain('write answered HTTP 401');
    expect(err.message).not.toContain(API_KEY);
    expect(String(err.cause ?? '')).not.toContain(API_KEY);
  });

  it('never puts the key in the error when the key cannot be sent as a header', async () => {
    const s = await memoryServer({ target: 'sidecar' });
    const badKey = 'sk-abc\ndef-secret';
    const err = await failure({ target: 'sidecar', marker: 'm' }, depsFor(s.url, { key: badKey }));
    expect(err.message).not.toContain('sk-abc');
    expect(err.message).not.toContain('def-secret');
    expect(err.message).toContain('bearer token');
    expect(s.requests).toHaveLength(0);
  });

  it('sends a key pasted with a trailing newline without the newline', async () => {
    const s = await memoryServer({ target: 'sidecar', requireKey: API_KEY });
    const result = await invokeStep(
      smokeTest,
      { target: 'sidecar', marker: 'm' },
      depsFor(s.url, { key: `${API_KEY}\n` }),
    );
    expect(result.recalled).toBe(true);
    expect(s.requests[0]!.headers.authorization).toBe(`Bearer ${API_KEY}`);
  });

  it('fails when the recall does not return the marker just written', async () => {
    const s = await memoryServer({ target: 'sidecar', forget: true });
    const err = await failure({ target: 'sidecar', marker: 'm' }, depsFor(s.url));
    expect(err.message).toContain('the marker just written was not recalled');
  });

  it('fails when the recall was served by another provider', async () => {
    const s = await memoryServer({ target: 'api', provider: 'native' });
    const err = await failure({ target: 'api', marker: 'm', expectProvider: 'http' }, depsFor(s.url));
    expect(err.message).toContain('served by provider "native", expected "http"');
  });

  it('fails when the write is refused, without attempting the recall', async () => {
    const s = await memoryServer({ target: 'api', writeStatus: 500 });
    const err = await failure({ target: 'api', marker: 'm' }, depsFor(s.url));
    expect(err.message).toContain('write answered HTTP 500');
    expect(s.requests).toHaveLength(1);
  });

  it('fails on a recall body that is not JSON', async () => {
    server = await startServer((req, res) => {
      if (req.method === 'POST') return sendJson(res, 200, { id: 'x' });
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok');
    });
    const err = await failure({ target: 'sidecar', marker: 'm' }, depsFor(server.url));
    expect(err.message).toContain('recall answered HTTP 200');
  });

  it('fails within the timeout when the server never answers', async () => {
    server = await startServer(() => {
      // never answers
    });
    const err = await failure({ target: 'api', marker: 'm' }, depsFor(server.url, { httpTimeoutMs: 150 }));
    expect(err.message).toContain('no answer within 150 ms');
  });

  it('fails when the connection is refused', async () => {
    const url = await refusedUrl();
    const err = await failure({ target: 'sidecar', marker: 'm' }, depsFor(url));
    expect(err.message).toContain('ECONNREFUSED');
    expect(err.message).toContain(`${url}/remember`);
  });
});
