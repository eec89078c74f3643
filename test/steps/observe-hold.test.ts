import { afterEach, describe, expect, it } from 'vitest';
import { observeHold } from '../../functions/observe-hold/observe-hold';
import { InvalidInputError } from '../../functions/shared/errors';
import { invokeStep } from '../../functions/shared/step';
import {
  fakeDeps,
  MemoryFlagStore,
  refusedUrl,
  SEED_FLAGS,
  sendJson,
  startServer,
  type TestServer,
  testConfig,
} from '../support/fakes';

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

const lockItem = (status: string) => ({ Item: { pk: { S: 'test' }, status: { S: status } } });

function depsFor(url: string, maintenance: string | null) {
  const flags = new MemoryFlagStore(
    maintenance === null
      ? Object.fromEntries(Object.entries(SEED_FLAGS).filter(([n]) => n !== 'maintenance-mode'))
      : { ...SEED_FLAGS, 'maintenance-mode': maintenance },
  );
  return fakeDeps({ flags, config: testConfig({ endpoints: { api: url, sidecar: url } }) });
}

/** An API whose /health answers `maintenance` from the list, one answer per request, the last one repeated. */
async function api(answers: boolean[]): Promise<TestServer> {
  let n = 0;
  server = await startServer((_req, res) => {
    const maintenance = answers[Math.min(n++, answers.length - 1)];
    sendJson(res, 200, { status: 'ok', provider: 'native', maintenance });
  });
  return server;
}

describe('observe-hold', () => {
  it('flag on, the API serving maintenance, the lock needs-operator: says exactly that', async () => {
    const s = await api([true]);
    const out = await invokeStep(
      observeHold,
      { state: { heldLock: lockItem('needs-operator') } },
      depsFor(s.url, 'on'),
    );
    expect(out).toEqual({
      maintenanceFlag: 'on',
      apiMaintenance: 'on',
      lockStatus: 'needs-operator',
      lockOwner: '',
      lock: 'held',
      summary:
        'Observed: maintenance-mode flag on; the API serves maintenance; the environment lock is HELD (needs-operator).',
    });
  });

  it('an API still answering from a draining task is asked again before it is reported', async () => {
    const s = await api([false, true]);
    const out = await invokeStep(
      observeHold,
      { state: { heldLock: lockItem('needs-operator') } },
      depsFor(s.url, 'on'),
    );
    expect(out.apiMaintenance).toBe('on');
    expect(s.requests.length).toBe(2);
  });

  it('an API that does not answer yet (a task still starting) is asked again before it is reported', async () => {
    let n = 0;
    server = await startServer((_req, res) => {
      n += 1;
      if (n === 1) sendJson(res, 503, { error: 'starting' });
      else sendJson(res, 200, { status: 'ok', provider: 'native', maintenance: false });
    });
    const out = await invokeStep(
      observeHold,
      { state: { heldLock: lockItem('needs-operator') } },
      depsFor(server.url, 'on'),
    );
    // Before: "the API did not answer /health", while it came back serving no maintenance.
    expect(out.apiMaintenance).toBe('off');
    expect(out.summary).toContain('the API does NOT serve maintenance');
    expect(server.requests.length).toBeGreaterThan(1);
  });

  it('an API that keeps serving without maintenance is reported as NOT serving it', async () => {
    const s = await api([false]);
    const out = await invokeStep(
      observeHold,
      { state: { heldLock: lockItem('needs-operator') } },
      depsFor(s.url, 'on'),
    );
    expect(out.apiMaintenance).toBe('off');
    expect(out.summary).toContain('the API does NOT serve maintenance');
  });

  it('what failed while holding is reported, and a lock left in status held is called out', async () => {
    const url = await refusedUrl();
    const out = await invokeStep(
      observeHold,
      {
        state: {
          heldLock: lockItem('held'),
          maintenanceError: { Error: 'Lambda.ServiceException', Cause: '...' },
          lockMarkError: { Error: 'DynamoDB.InternalServerErrorException' },
        },
      },
      depsFor(url, 'off'),
    );
    expect(out).toMatchObject({
      maintenanceFlag: 'off',
      apiMaintenance: 'unreachable',
      lockStatus: 'held',
      lock: 'held',
    });
    expect(out.summary).toBe(
      'Observed: maintenance-mode flag off; the API did not answer /health; the environment lock is held but NOT marked needs-operator (the janitor may free it once this execution fails). While holding, setting maintenance mode failed (Lambda.ServiceException); marking the lock failed (DynamoDB.InternalServerErrorException).',
    );
  });

  it('no lock item, or none read, and an unreadable flag are reported as such', async () => {
    const url = await refusedUrl();
    const absent = await invokeStep(observeHold, { state: { heldLock: {} } }, depsFor(url, null));
    expect(absent).toMatchObject({ maintenanceFlag: 'unreadable', lockStatus: 'absent', lock: 'not held' });
    const unread = await invokeStep(observeHold, { state: {} }, depsFor(url, 'on'));
    expect(unread).toMatchObject({ lockStatus: 'unreadable', lock: 'unknown' });
  });

  it('refuses an input without the state', async () => {
    await expect(invokeStep(observeHold, {}, fakeDeps())).rejects.toBeInstanceOf(InvalidInputError);
  });
});
