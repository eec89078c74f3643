import { afterEach, describe, expect, it } from 'vitest';
import { featureCheck } from '../../functions/feature-check/feature-check';
import { FeatureCheckFailedError, FeatureNotDisabledError } from '../../functions/shared/errors';
import { isEnabledFor, type MemoryContextFlag, probeProjects } from '../../functions/shared/memory-context';
import { invokeStep } from '../../functions/shared/step';
import { fakeDeps, sendJson, startServer, type TestServer, testConfig } from '../support/fakes';

/**
 * A fake app serving seed 003's endpoints for a flag the test sets (and may lag behind, as an app
 * reading the flag through a cache does). `misbehave` breaks one answer on purpose.
 */
async function fakeApp(state: {
  flag: MemoryContextFlag;
  version: number;
  misbehave?: string;
}): Promise<TestServer> {
  const items: { id: string; project_id: string }[] = [];
  return startServer((req, res) => {
    const url = new URL(req.path, 'http://app');
    const project = url.searchParams.get('project_id') ?? (req.body ? JSON.parse(req.body).project_id : '');
    if (url.pathname === '/api/v1/config') {
      return sendJson(res, 200, {
        memory_context_enabled: state.flag.enabled,
        memory_context: {
          enabled: state.flag.enabled,
          percentage: state.flag.percentage,
          flag_version: state.version,
          flag_error: null,
        },
      });
    }
    if (!state.flag.enabled) return sendJson(res, 404, { error: 'disabled' });
    const on = isEnabledFor(state.flag, project) || state.misbehave === 'ignore-percentage';
    if (!on) return sendJson(res, 403, { error: 'not for you' });
    if (req.method === 'POST' && url.pathname === '/api/v1/memory-items') {
      const item = { id: `i-${items.length}`, project_id: project };
      items.push(item);
      return sendJson(res, 201, item);
    }
    if (url.pathname === '/api/v1/memory-items') {
      const listed = state.misbehave === 'lose-items' ? [] : items.filter((i) => i.project_id === project);
      return sendJson(res, 200, { items: listed });
    }
    return sendJson(res, 200, { items: [] });
  });
}

let app: TestServer | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});
const depsFor = (url: string) => fakeDeps({ config: testConfig({ endpoints: { api: url } }) });
const CANARY: MemoryContextFlag = { enabled: true, percentage: 10, allowList: ['internal-test'] };

describe('feature-check, phase mode', () => {
  it('canary: config served, internal create/list/preview, probes inside and outside the percentage', async () => {
    app = await fakeApp({ flag: CANARY, version: 3 });
    const out = await invokeStep(
      featureCheck,
      { mode: 'phase', expect: CANARY, minVersion: 3, withinSeconds: 5, label: 'r1 canary' },
      depsFor(app.url),
    );
    const probes = probeProjects(CANARY);
    expect(out.checks).toEqual([
      { what: 'create a memory item for allow-listed internal-test', status: 201, ok: true },
      { what: 'list memory items of internal-test', status: 200, ok: true },
      { what: 'preview a context pack for internal-test', status: 200, ok: true },
      { what: `list for ${probes.inside} (inside 10 %)`, status: 200, ok: true },
      { what: `list for ${probes.outside} (outside 10 %)`, status: 403, ok: true },
    ]);
    expect(out.flagVersion).toBe(3);
    // Only the allow-listed project was written to; probes are read-only.
    const posts = app.requests.filter((r) => r.method === 'POST' && r.path === '/api/v1/memory-items');
    expect(posts.map((r) => JSON.parse(r.body).project_id)).toEqual(['internal-test']);
    expect(JSON.parse(posts[0]!.body)).toMatchObject({
      type: 'decision',
      tags: ['rollout-test'],
      metadata: { check: 'r1 canary' },
    });
  });

  it('waits for the app to serve the new version (its flag cache), three answers in a row', async () => {
    const state = { flag: { enabled: false, percentage: 0, allowList: [] } as MemoryContextFlag, version: 1 };
    app = await fakeApp(state);
    setTimeout(() => {
      state.flag = CANARY;
      state.version = 2;
    }, 300);
    const out = await invokeStep(
      featureCheck,
      { mode: 'phase', expect: CANARY, minVersion: 2, withinSeconds: 5, label: 'r1 canary' },
      depsFor(app.url),
    );
    expect(out.servedAfterMs).toBeGreaterThanOrEqual(250);
    const configs = app.requests.filter((r) => r.path === '/api/v1/config');
    expect(configs.length).toBeGreaterThanOrEqual(4);
  });

  it.each([
    [
      'ignores the percentage (serves projects outside it)',
      'ignore-percentage',
      /outside 10 %\) answered HTTP 200/,
    ],
    ['loses what was written', 'lose-items', /the memory item just created for internal-test is not listed/],
  ])('fails when the app %s', async (_n, misbehave, message) => {
    app = await fakeApp({ flag: CANARY, version: 3, misbehave });
    const check = invokeStep(
      featureCheck,
      { mode: 'phase', expect: CANARY, minVersion: 3, withinSeconds: 5, label: 'x' },
      depsFor(app.url),
    );
    await expect(check).rejects.toThrow(FeatureCheckFailedError);
    await expect(check).rejects.toThrow(message);
  });

  it('fails when the app never serves the phase within the time allowed', async () => {
    app = await fakeApp({ flag: { enabled: true, percentage: 5, allowList: [] }, version: 3 });
    await expect(
      invokeStep(
        featureCheck,
        { mode: 'phase', expect: CANARY, minVersion: 3, withinSeconds: 1, label: 'x' },
        depsFor(app.url),
      ),
    ).rejects.toThrow(
      /did not serve the flag of the phase .* within 1 s: last answer enabled true, 5 %, version 3/,
    );
  });
});

describe('feature-check, off mode (the emergency disable)', () => {
  it('verifies config off at the written version and a memory endpoint refusing', async () => {
    app = await fakeApp({ flag: { enabled: false, percentage: 0, allowList: [] }, version: 9 });
    const out = await invokeStep(
      featureCheck,
      { mode: 'off', minVersion: 9, since: null, withinSeconds: 5 },
      depsFor(app.url),
    );
    expect(out.checks.map((c) => c.status)).toEqual([404, 404]);
  });

  it('counts the budget from `since`: an app still serving the feature past it fails FeatureNotDisabledError', async () => {
    app = await fakeApp({ flag: CANARY, version: 9 });
    const deps = depsFor(app.url);
    const since = new Date(deps.clock.now().getTime() - 500).toISOString();
    const check = invokeStep(featureCheck, { mode: 'off', minVersion: 9, since, withinSeconds: 1 }, deps);
    await expect(check).rejects.toThrow(FeatureNotDisabledError);
    await expect(check).rejects.toThrow(
      /did not serve the flag off at version >= 9 within 1 s: last answer enabled true/,
    );
  });

  it('an unreachable app is not "off"', async () => {
    const closed = await startServer(() => {});
    await closed.close();
    await expect(
      invokeStep(
        featureCheck,
        { mode: 'off', minVersion: 1, since: null, withinSeconds: 1 },
        depsFor(closed.url),
      ),
    ).rejects.toThrow(FeatureNotDisabledError);
  });
});
