import { afterEach, describe, expect, it } from 'vitest';
import type { ExecutionRecord } from '../../local/engine';
import type { World } from '../../local/world';
import { startWorld, type TestWorldOptions, until } from '../support/world';

type TestWorld = Awaited<ReturnType<typeof startWorld>>;
let world: TestWorld | undefined;
afterEach(async () => {
  await world?.dispose();
  world = undefined;
});

async function open(options: TestWorldOptions = {}) {
  world = await startWorld(options);
  return world;
}

const MARKER = '/switchback/rehearsal/drill/marker';
const ALARM = 'switchback-rehearsal-s004-error-rate';
const marker = async (w: World) => (await w.parameters.versions(MARKER)).at(-1);
const runsOf = (w: World, procedure: string) => w.engine.executions.filter((e) => e.procedure === procedure);
const alarmStates = async (w: World) =>
  (
    await w.alarmHistory.history({ since: new Date(Date.now() - 3_600_000), until: new Date() })
  ).intervals.filter((i) => i.alarm === ALARM);

describe('drill: a rollback drill through the real detection path', () => {
  it("passes: the drill's change, SetAlarmState ALARM, the router rolls back that change only, the alarm back to OK, a report", async () => {
    const w = await open();
    const run = await w.engine.run('drill', { kind: 'config' });

    expect(run.status).toBe('SUCCEEDED');
    expect(run.output).toMatchObject({ outcome: 'drilled', drill: true });
    // The router was started by the alarm, as EventBridge would, and ran config-rollback of the marker
    // (the drill ends once the rollback verified; the router then writes its report).
    await until(() => runsOf(w, 'rollback-router').every((e) => e.status !== 'RUNNING'));
    const [router] = runsOf(w, 'rollback-router');
    expect(router?.output).toMatchObject({ outcome: 'rolled-back' });
    const [rollback] = runsOf(w, 'config-rollback');
    expect((rollback?.output as { changes?: string[] } | undefined)?.changes).toEqual([
      expect.stringMatching(/^drill\/MARKER: "true" \(v2\) -> "false"/),
    ]);
    // Everything as before: the marker back (by value, a new version), the lock free, the alarm OK.
    expect(await marker(w)).toMatchObject({ value: 'false', version: 3 });
    expect(await w.lock()).toBeUndefined();
    const states = await alarmStates(w);
    expect(states).toHaveLength(1);
    expect(states[0]?.to).not.toBeNull();
    const report = JSON.parse(
      Buffer.from((await w.blobs.get(`drills/rehearsal/${run.name}.json`)) ?? []).toString('utf8'),
    ) as { drill: boolean; phases: Record<string, number>; target: { withinTarget: boolean } };
    expect(report.drill).toBe(true);
    expect(report.phases.alarmToRolledBack).toBeGreaterThan(0);
    expect(report.target.withinTarget).toBe(true);
    expect(
      w.metrics.data
        .filter((d) => d.name === 'DrillSeconds')
        .map((d) => d.dimensions.Phase)
        .sort(),
    ).toEqual(['alarmToRolledBack', 'changeToAlarm', 'total']);
  });

  it('is refused while the kill switch is on: nothing changed, no alarm, no router', async () => {
    const w = await open();
    await w.parameters.put('automation/paused', 'true');
    const run = await w.engine.run('drill', { kind: 'config' });

    expect(run.status).toBe('FAILED');
    expect(run.error).toBe('DrillRefusedError');
    expect(run.cause).toMatch(/automation\/paused is "true"/);
    expect(await marker(w)).toMatchObject({ value: 'false', version: 1 });
    expect(runsOf(w, 'rollback-router')).toHaveLength(0);
    expect(await alarmStates(w)).toEqual([]);
  });

  it('is refused while a change holds the lock, naming it', async () => {
    const w = await open();
    await w.dynamo.integration('putItem', {
      TableName: w.lockTable,
      Item: {
        pk: { S: w.config.environment },
        owner: { S: 'arn:aws:states:local-1:000000000000:execution:cutover:co-1' },
        procedure: { S: 'provider-cutover' },
        status: { S: 'held' },
      },
    });
    const run = await w.engine.run('drill', { kind: 'config' });

    expect(run.error).toBe('DrillRefusedError');
    expect(run.cause).toMatch(/provider-cutover\) holds the environment lock: no drill beside a change/);
    expect(await marker(w)).toMatchObject({ value: 'false', version: 1 });
  });

  it('never rolls back a real change: a CI deploy after its change makes the router hold; the drill undoes its own change and fails', async () => {
    let deployed: Promise<unknown> | undefined;
    const w = await open({
      hooks: {
        'drill:RaiseAlarm': async () => {
          const td = world?.services.registerTaskDefinition('api', { FAULT_DELAY_MS: '10' }) ?? '';
          deployed = world?.services.redeploy('api', td);
          await deployed;
          await until(
            async () => (await world?.services.describe('api'))?.deployments[0]?.rolloutState === 'COMPLETED',
          );
        },
      },
      drillPolls: 15,
    });
    const run: ExecutionRecord = await w.engine.run('drill', { kind: 'config' });

    expect(run.status).toBe('FAILED');
    expect(run.error).toBe('DrillFailedError');
    const [router] = runsOf(w, 'rollback-router');
    expect(router?.output).toMatchObject({ outcome: 'held' });
    expect((router?.output as { summary?: string } | undefined)?.summary).toMatch(
      /a drill never rolls back underneath a real change/,
    );
    expect(runsOf(w, 'code-rollback')).toHaveLength(0);
    expect(runsOf(w, 'config-rollback')).toHaveLength(0);
    // The real change stands; the drill put its own marker back itself.
    expect((await w.services.describe('api')).taskDefinition).toBe('local:api:2');
    expect(await marker(w)).toMatchObject({ value: 'false', version: 3 });
    expect(await w.lock()).toBeUndefined();
  });

  it('its incident keeps no cool-down: the next real alarm after a drill is handled, not absorbed', async () => {
    const w = await open();
    const run = await w.engine.run('drill', { kind: 'config' });
    expect(run.status).toBe('SUCCEEDED');
    await until(() => runsOf(w, 'rollback-router').every((e) => e.status !== 'RUNNING'));

    const next = await w.engine.run('rollback-router', w.alarmEvent('s001-api-down'));
    expect(next.steps.map((s) => s.state)).toContain('StartResponse');
    expect((next.output as { outcome?: string } | undefined)?.outcome).not.toBe('deduplicated');
  });
});
