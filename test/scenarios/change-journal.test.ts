import { afterEach, describe, expect, it } from 'vitest';
import { lastKnownGood } from '../../functions/shared/last-known-good';
import { startWorld, until } from '../support/world';

type TestWorld = Awaited<ReturnType<typeof startWorld>>;
let world: TestWorld | undefined;
afterEach(async () => {
  await world?.dispose();
  world = undefined;
});

const ALICE = 'arn:aws:iam::000000000000:user/alice';

describe('the change journal of a rehearsal world', () => {
  it("journals a CI deploy of a bad build and a hand-made AUTONOMOUS_MODE change in AWS's event shapes; the LKG is the build before", async () => {
    world = await startWorld();
    const w = world;
    const startedAt = new Date(Date.now() - 60 * 60_000).toISOString();

    // CI registers a new revision (a bad build: every second memory request fails) and deploys it.
    const bad = w.services.registerTaskDefinition('api', { FAULT_ERROR_PERCENT: '50' });
    expect(bad).toBe('local:api:2');
    const { deploymentId } = await w.services.redeploy('api', bad);
    await until(async () => (await w.services.describe('api')).deployments[0]?.rolloutState === 'COMPLETED');

    // Someone turns autonomous mode on by hand; a flag Switchback owns changes too (not watched).
    const autonomous = w.config.journal?.watched['mcp/AUTONOMOUS_MODE']?.name ?? '';
    expect(autonomous).toBe('/memory/rehearsal/mcp/AUTONOMOUS_MODE');
    w.parameters.putParameter(autonomous, 'true', 'String', ALICE);
    await w.parameters.put('maintenance-mode', 'off');

    // What the API now serves: the bad build's errors.
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await fetch(`${w.config.endpoints.api}/memories`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ text: `request ${i}` }),
      });
      statuses.push(res.status);
    }
    expect(statuses.filter((s) => s === 500)).toHaveLength(2);

    const entries = await w.journalEntries();
    const api = entries.filter((e) => e.subject === 'service:api');
    const deploy = api.filter(
      (e) => e.change.type === 'deployment' && e.change.deploymentId === deploymentId,
    );
    expect(deploy.map((e) => e.change)).toEqual([
      expect.objectContaining({
        state: 'IN_PROGRESS',
        from: 'local:api:1',
        to: 'local:api:2',
        rollback: false,
      }),
      expect.objectContaining({ state: 'COMPLETED', from: 'local:api:1', to: 'local:api:2' }),
    ]);
    const params = entries.filter((e) => e.change.type === 'parameter');
    expect(params).toHaveLength(1);
    expect(params[0]).toMatchObject({
      source: 'aws.ssm',
      actor: ALICE,
      subject: 'parameter:mcp/AUTONOMOUS_MODE',
      change: { fromVersion: 1, toVersion: 2, fromValue: 'false', toValue: 'true', invalid: null },
    });
    expect(entries.some((e) => e.subject.includes('maintenance-mode'))).toBe(false);
    expect(w.logs.entries.filter((l) => l.step === 'journal' && l.level === 'ERROR')).toEqual([]);

    // The error-rate alarm goes to ALARM now, inside the bake of both changes: the states before are the LKG.
    const alarmAt = new Date().toISOString();
    const history = {
      coversSince: startedAt,
      intervals: [
        {
          alarm: 'switchback-rehearsal-s004-error-rate',
          from: alarmAt,
          to: null,
        },
      ],
    };
    const lkg = lastKnownGood('service:api', entries, history, {
      bakeMinutes: 1,
      now: new Date(Date.now() + 5 * 60_000),
    });
    expect(lkg).toMatchObject({
      known: true,
      lkg: { state: { type: 'service', taskDefinition: 'local:api:1' } },
    });
    if (!lkg.known) return;
    expect(lkg.since).toEqual(deploy.map((e) => e.entryId));
    const param = lastKnownGood('parameter:mcp/AUTONOMOUS_MODE', entries, history, {
      bakeMinutes: 1,
      now: new Date(Date.now() + 5 * 60_000),
    });
    expect(param).toMatchObject({ known: true, lkg: { state: { version: 1, value: 'false' } } });
  });
});
