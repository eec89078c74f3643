import { afterEach, describe, expect, it } from 'vitest';
import { checkHealth } from '../../functions/check-health/check-health';
import { HealthCheckFailedError, InvalidInputError } from '../../functions/shared/errors';
import { invokeStep } from '../../functions/shared/step';
import { fakeDeps, refusedUrl, sendJson, startServer, type TestServer, testConfig } from '../support/fakes';

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function healthServer(status: number, body: unknown): Promise<TestServer> {
  server = await startServer((req, res) =>
    req.path === '/health' ? sendJson(res, status, body) : sendJson(res, 404, { error: 'not found' }),
  );
  return server;
}

function depsFor(url: string, httpTimeoutMs = 1_000) {
  return fakeDeps({
    config: testConfig({ endpoints: { api: url, sidecar: url }, timing: { httpTimeoutMs } }),
  });
}

async function failure(input: unknown, deps = fakeDeps()): Promise<Error> {
  const err = await invokeStep(checkHealth, input, deps).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(HealthCheckFailedError);
  expect((err as Error).name).toBe('HealthCheckFailedError');
  return err as Error;
}

describe('check-health', () => {
  it('reports a healthy API with its provider, from the configured URL', async () => {
    const s = await healthServer(200, { status: 'ok', provider: 'native' });
    const result = await invokeStep(checkHealth, { target: 'api', expectProvider: 'native' }, depsFor(s.url));
    expect(result).toMatchObject({ target: 'api', url: `${s.url}/health`, status: 'ok', provider: 'native' });
    expect(s.requests.map((r) => `${r.method} ${r.path}`)).toEqual(['GET /health']);
  });

  it('checks the overriding base URL instead of the configured one (trailing slash tolerated)', async () => {
    const s = await healthServer(200, { status: 'ok' });
    const deps = depsFor(await refusedUrl());
    const result = await invokeStep(checkHealth, { target: 'sidecar', baseUrl: `${s.url}/` }, deps);
    expect(result).toMatchObject({ target: 'sidecar', url: `${s.url}/health`, provider: null });
    expect(s.requests).toHaveLength(1);
  });

  it('fails on HTTP 503, saying what came back', async () => {
    const s = await healthServer(503, { status: 'degraded' });
    const err = await failure({ target: 'api' }, depsFor(s.url));
    expect(err.message).toContain('HTTP 503');
    expect(err.message).toContain('status "degraded"');
  });

  it('fails on HTTP 200 whose status is not ok', async () => {
    const s = await healthServer(200, { status: 'starting' });
    const err = await failure({ target: 'sidecar' }, depsFor(s.url));
    expect(err.message).toContain('status "starting"');
  });

  it('fails when the API reports another provider than expected', async () => {
    const s = await healthServer(200, { status: 'ok', provider: 'native' });
    const err = await failure({ target: 'api', expectProvider: 'http' }, depsFor(s.url));
    expect(err.message).toContain('reports memory provider "native", expected "http"');
  });

  it('fails when a provider is expected and none is reported', async () => {
    const s = await healthServer(200, { status: 'ok' });
    const err = await failure({ target: 'api', expectProvider: 'native' }, depsFor(s.url));
    expect(err.message).toContain('"none"');
  });

  it('fails on a body that is not JSON', async () => {
    server = await startServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html>ok</html>');
    });
    const err = await failure({ target: 'api' }, depsFor(server.url));
    expect(err.message).toContain('HTTP 200, no health document');
  });

  it('fails within the configured timeout when the server never answers', async () => {
    server = await startServer(() => {
      // never answers
    });
    const started = Date.now();
    const err = await failure({ target: 'api' }, depsFor(server.url, 150));
    expect(err.message).toContain('no answer within 150 ms');
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('fails when the connection is refused, naming the URL and the reason', async () => {
    const url = await refusedUrl();
    const err = await failure({ target: 'sidecar' }, depsFor(url));
    expect(err.message).toContain(`${url}/health`);
    expect(err.message).toContain('ECONNREFUSED');
  });

  it.each([
    ['target', { target: 'database' }],
    ['baseUrl', { target: 'api', baseUrl: 'file:///etc/passwd' }],
    ['expectProvider', { target: 'api', expectProvider: 'mem0' }],
    ['(root)', { target: 'api', extra: true }],
  ])('refuses a bad %s without calling anything', async (field, input) => {
    const s = await healthServer(200, { status: 'ok' });
    const err = await invokeStep(checkHealth, input, depsFor(s.url)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidInputError);
    expect((err as Error).message).toContain(field);
    expect(s.requests).toHaveLength(0);
  });
});
