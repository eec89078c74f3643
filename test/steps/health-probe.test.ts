import { afterEach, describe, expect, it } from 'vitest';
import { healthProbe } from '../../functions/health-probe/health-probe';
import { InvalidInputError } from '../../functions/shared/errors';
import { invokeStep } from '../../functions/shared/step';
import { RecordingMetrics } from '../../local/adapters/recording-metrics';
import { fakeDeps, refusedUrl, sendJson, startServer, type TestServer, testConfig } from '../support/fakes';

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function healthy(): Promise<string> {
  server = await startServer((req, res) =>
    req.path === '/health'
      ? sendJson(res, 200, { status: 'ok', provider: 'native' })
      : sendJson(res, 404, {}),
  );
  return server.url;
}

function deps(
  api: string,
  sidecar: string,
  metrics: { put: RecordingMetrics['put'] } = new RecordingMetrics(),
) {
  return fakeDeps({ config: testConfig({ endpoints: { api, sidecar } }), metrics });
}

describe('health-probe', () => {
  // Each probe gets the interval less 100 ms to answer: intervals here leave a loaded machine room.
  it('probes both targets every round and publishes each result at once, high resolution', async () => {
    const url = await healthy();
    const metrics = new RecordingMetrics();
    const result = await invokeStep(healthProbe, { rounds: 3, intervalMs: 600 }, deps(url, url, metrics));

    expect(result).toEqual({
      rounds: 3,
      targets: {
        api: { up: 3, down: 0, maxLatencyMs: expect.any(Number) },
        sidecar: { up: 3, down: 0, maxLatencyMs: expect.any(Number) },
      },
    });
    expect(server?.requests.map((r) => r.path)).toEqual(Array(6).fill('/health'));
    expect(metrics.named('Availability').map((d) => [d.dimensions.Target, d.value])).toEqual([
      ['api', 1],
      ['sidecar', 1],
      ['api', 1],
      ['sidecar', 1],
      ['api', 1],
      ['sidecar', 1],
    ]);
    for (const d of metrics.data) {
      expect(d.storageResolution).toBe(1);
      expect(d.dimensions.Environment).toBe('test');
    }
    expect(metrics.named('LatencyMs').every((d) => d.unit === 'Milliseconds' && d.value >= 0)).toBe(true);
  });

  it('a target that does not answer is down (0), and the probe itself still succeeds', async () => {
    const url = await healthy();
    const metrics = new RecordingMetrics();
    const d = deps(url, await refusedUrl(), metrics);
    const result = await invokeStep(healthProbe, { rounds: 2, intervalMs: 600 }, d);

    expect(result.targets.sidecar).toMatchObject({ up: 0, down: 2 });
    expect(result.targets.api).toMatchObject({ up: 2, down: 0 });
    expect(
      metrics
        .named('Availability')
        .filter((m) => m.dimensions.Target === 'sidecar')
        .map((m) => m.value),
    ).toEqual([0, 0]);
    expect(d.log.lines).toContainEqual(expect.objectContaining({ level: 'warn', message: 'probes failed' }));
  });

  it('keeps probing when a publish fails, then fails the invocation so its alarm fires', async () => {
    const url = await healthy();
    const published: string[] = [];
    let calls = 0;
    const flaky = {
      put: async (data: Parameters<RecordingMetrics['put']>[0]) => {
        calls += 1;
        if (calls === 1) throw Object.assign(new Error('throttled'), { name: 'ThrottlingException' });
        published.push(...data.map((m) => m.name));
      },
    };
    const err = await invokeStep(
      healthProbe,
      { rounds: 3, intervalMs: 600, targets: ['api'] },
      deps(url, url, flaky),
    ).catch((e: unknown) => e);
    expect((err as Error).name).toBe('ThrottlingException');
    expect(calls).toBe(3);
    expect(published).toEqual(['Availability', 'LatencyMs', 'Availability', 'LatencyMs']);
  });

  it('refuses a schedule input it cannot honour, probing nothing', async () => {
    const url = await healthy();
    const err = await invokeStep(healthProbe, { rounds: 0, intervalMs: 10_000 }, deps(url, url)).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(InvalidInputError);
    expect(server?.requests).toEqual([]);
  });
});
