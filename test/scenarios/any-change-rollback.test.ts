import { afterEach, describe, expect, it } from 'vitest';
import type { ExecutionRecord } from '../../local/engine';
import type { World } from '../../local/world';
import { pathOf, startWorld, type TestWorldOptions, until } from '../support/world';

type TestWorld = Awaited<ReturnType<typeof startWorld>>;
let world: TestWorld | undefined;
afterEach(async () => {
  await world?.dispose();
  world = undefined;
});

const ALICE = 'arn:aws:iam::000000000000:user/alice';
const ERROR_RATE = 's004-error-rate';
const AUTONOMOUS = 'mcp/AUTONOMOUS_MODE';

async function open(options: TestWorldOptions = {}) {
  world = await startWorld(options);
  return world;
}

/** CI's deploy of a new revision, as a pipeline does it: register, update the service, wait. */
async function ciDeploy(w: World, environment: Record<string, string>) {
  const td = w.services.registerTaskDefinition('api', environment);
  const { deploymentId } = await w.services.redeploy('api', td);
  await until(async () => (await w.services.describe('api')).deployments[0]?.rolloutState === 'COMPLETED');
  return { td, deploymentId };
}

/** Memory writes through the API: how many of `n` fail (what the error-rate alarm measures). */
async function failures(w: World, n: number): Promise<number> {
  let failed = 0;
  for (let i = 0; i < n; i++) {
    const res = await fetch(`${w.config.endpoints.api}/memories`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text: `traffic ${i}` }),
    });
    await res.arrayBuffer();
    if (res.status >= 500) failed += 1;
  }
  return failed;
}

const runsOf = (w: World, procedure: string) => w.engine.executions.filter((e) => e.procedure === procedure);

async function apiOn(w: World) {
  const state = await w.services.describe('api');
  return { taskDefinition: state.taskDefinition, rollout: state.deployments[0]?.rolloutState };
}

/** The incident report the router wrote (Markdown), from the report location in its output. */
async function reportOf(w: World, run: ExecutionRecord): Promise<string> {
  const url = (run.output as { report: { markdown: string } }).report.markdown;
  const key = url.replace(/^s3:\/\/[^/]+\//, '');
  return Buffer.from((await w.blobs.get(key)) ?? []).toString('utf8');
}

async function watched(w: World, key: string) {
  const name = w.config.journal?.watched[key]?.name ?? '';
  return (await w.parameters.versions(name)).at(-1);
}

async function setWatched(w: World, key: string, value: string) {
  w.parameters.putParameter(w.config.journal?.watched[key]?.name ?? '', value, 'String', ALICE);
}

describe('any change rolled back: the router decides from the journal', () => {
  it('CI deploys a bad build, errors rise, the alarm: code-rollback puts the API back on the build before, verified', async () => {
    const w = await open();
    const { td } = await ciDeploy(w, { FAULT_ERROR_PERCENT: '50' });
    expect(td).toBe('local:api:2');
    expect(await failures(w, 4)).toBe(2);

    const run = await w.engine.run('rollback-router', w.alarmEvent(ERROR_RATE));

    expect(run.status).toBe('SUCCEEDED');
    expect(pathOf(run)).toEqual([
      'ParseAlarm',
      'OpenIncident',
      'ReadLock',
      'PlanResponse',
      'AcquireLock',
      'RunCodeRollback',
      'StartCodeRollback',
      'ReleaseLock',
      'WriteReport',
      'CloseIncident',
      'Notify',
      'PublishNotice',
      'Done',
    ]);
    const [child] = runsOf(w, 'code-rollback');
    expect(child?.status).toBe('SUCCEEDED');
    // The stability poll repeats as long as the deployment settles: its checks are left out here.
    const polls = new Set(['WaitForStable', 'CheckStable']);
    expect(pathOf(child as ExecutionRecord)).toContain('CheckStable');
    expect(pathOf(child as ExecutionRecord).filter((s) => !polls.has(s))).toEqual([
      'ValidateInput',
      'AcquireLock',
      'PlanRollback',
      'ApplyRollback',
      'WaitForServices',
      'ServiceStable',
      'VerifyApi',
      'VerifySidecar',
      'VerifyMemoryThroughApi',
      'RecordRollback',
      'RolledBack',
    ]);
    // The world: the API on the build before, serving without errors, the lock free.
    expect(await apiOn(w)).toEqual({ taskDefinition: 'local:api:1', rollout: 'COMPLETED' });
    expect(await failures(w, 8)).toBe(0);
    expect(await w.lock()).toBeUndefined();
    expect(run.output).toMatchObject({ outcome: 'rolled-back', lock: 'released' });
    expect((run.output as { summary: string }).summary).toMatch(
      /code-rollback rolled back api deployed local:api:1 -> local:api:2/,
    );
    const report = await reportOf(w, run);
    expect(report).toMatch(/\*\*ROLLED BACK\*\*: `[^`]+` api deployed local:api:1 -> local:api:2/);
    expect(report).toMatch(/Rollback Type\*\*: automatic code rollback \(code-rollback\)/);
    const notified = w.engine.notifications.map((n) => n.subject);
    expect(notified.some((s) => /alarm rollback verified/.test(s))).toBe(true);
    // The verified rollback is a journal entry of its own.
    const own = (await w.journalEntries()).filter((e) => e.subject === 'procedure:code-rollback');
    expect(own.map((e) => e.change)).toEqual([
      expect.objectContaining({
        procedure: 'code-rollback',
        status: 'completed',
        taskDefinition: 'local:api:1',
      }),
    ]);
  });

  it('a deployment still in progress when the alarm fires is stopped with ROLLBACK, back to the revision before', async () => {
    const w = await open();
    // A build that never becomes healthy (it exits at start): ECS keeps the deployment IN_PROGRESS.
    const bad = w.services.registerTaskDefinition('api', { MEMORY_PROVIDER: 'bogus' });
    const { deploymentId } = await w.services.redeploy('api', bad);
    await until(async () =>
      (await w.journalEntries()).some(
        (e) => e.change.type === 'deployment' && e.change.deploymentId === deploymentId,
      ),
    );
    expect(
      (await w.services.describe('api')).deployments.map((d) => [d.status, d.rolloutState, d.taskDefinition]),
    ).toEqual([
      ['PRIMARY', 'IN_PROGRESS', bad],
      ['ACTIVE', 'COMPLETED', 'local:api:1'],
    ]);

    const run = await w.engine.run('rollback-router', w.alarmEvent('s001-api-down'));

    expect(run.output).toMatchObject({ outcome: 'rolled-back', lock: 'released' });
    const [child] = runsOf(w, 'code-rollback');
    expect(child?.status).toBe('SUCCEEDED');
    const out = child?.output as { changes: string[] };
    expect(out.changes).toEqual([
      expect.stringMatching(
        new RegExp(
          `^api: ${bad} -> local:api:1 \\(stop-deployment\\); deployment ${deploymentId} to ${bad} is in progress`,
        ),
      ),
    ]);
    expect(await apiOn(w)).toEqual({ taskDefinition: 'local:api:1', rollout: 'COMPLETED' });
    expect(await failures(w, 4)).toBe(0);
    expect(await w.lock()).toBeUndefined();
  });

  it('a hand-made AUTONOMOUS_MODE change, applied by a restart, then the alarm: config-rollback puts the value back and restarts the API', async () => {
    const w = await open();
    await setWatched(w, AUTONOMOUS, 'true');
    await w.services.redeploy('api');
    await until(async () => (await w.apiHealth().catch(() => undefined))?.body.autonomousMode === true);
    expect(await failures(w, 8)).toBe(2);

    const run = await w.engine.run('rollback-router', w.alarmEvent(ERROR_RATE));

    expect(run.output).toMatchObject({ outcome: 'rolled-back', lock: 'released' });
    expect(pathOf(run)).toContain('RunConfigRollback');
    const [child] = runsOf(w, 'config-rollback');
    expect(child?.status).toBe('SUCCEEDED');
    expect((child?.output as { changes?: string[] } | undefined)?.changes).toContainEqual(
      expect.stringMatching(/^mcp\/AUTONOMOUS_MODE: "true" \(v2\) -> "false", then restart api/),
    );
    // Restored by value: a new version, history intact; the API restarted reads it.
    expect(await watched(w, AUTONOMOUS)).toMatchObject({ version: 3, value: 'false' });
    expect((await w.apiHealth()).body.autonomousMode).toBe(false);
    expect(await failures(w, 8)).toBe(0);
    expect(await w.lock()).toBeUndefined();
    const restore = (await w.journalEntries()).filter(
      (e) => e.change.type === 'parameter' && e.change.toVersion === 3,
    );
    expect(restore.map((e) => e.change)).toEqual([
      expect.objectContaining({ key: AUTONOMOUS, fromValue: 'true', toValue: 'false' }),
    ]);
    expect(await reportOf(w, run)).toMatch(
      /\*\*ROLLED BACK\*\*: `[^`]+` mcp\/AUTONOMOUS_MODE "false" -> "true" \(by arn:aws:iam::000000000000:user\/alice\)/,
    );
  });

  it('a provider cutover, then a CI deploy, then the alarm: the deploy is undone, the cutover stays', async () => {
    const w = await open();
    const cutover = await w.engine.run('provider-cutover', {
      reason: 'Switch to the mem0 sidecar',
      requestedBy: 'ops',
    });
    expect(cutover.status).toBe('SUCCEEDED');
    await ciDeploy(w, { FAULT_ERROR_PERCENT: '50' });

    const run = await w.engine.run('rollback-router', w.alarmEvent(ERROR_RATE));

    expect(run.output).toMatchObject({ outcome: 'rolled-back' });
    expect(runsOf(w, 'provider-rollback')).toHaveLength(0);
    expect(runsOf(w, 'code-rollback').map((e) => e.status)).toEqual(['SUCCEEDED']);
    expect(await apiOn(w)).toEqual({ taskDefinition: 'local:api:1', rollout: 'COMPLETED' });
    // The cutover stands: flags on http, the API serving through the sidecar.
    expect((await w.parameters.get('memory/provider')).value).toBe('http');
    expect((await w.apiHealth()).body.provider).toBe('http');
    const report = await reportOf(w, run);
    expect(report).toMatch(
      new RegExp(
        `not rolled back: \`[^\`]+\` provider-cutover ${cutover.name} completed[^\\n]*older than the newest change`,
      ),
    );
  });

  it('two changes of different kinds: the newest (a deploy) is undone; the older parameter change is listed, not reverted', async () => {
    const w = await open();
    await setWatched(w, 'mem0/WORKERS', '8');
    await ciDeploy(w, { FAULT_DELAY_MS: '300' });

    const run = await w.engine.run('rollback-router', w.alarmEvent('s004-degradation'));

    expect(run.output).toMatchObject({ outcome: 'rolled-back' });
    expect(runsOf(w, 'config-rollback')).toHaveLength(0);
    expect(await apiOn(w)).toEqual({ taskDefinition: 'local:api:1', rollout: 'COMPLETED' });
    expect(await watched(w, 'mem0/WORKERS')).toMatchObject({ version: 2, value: '8' });
    expect(await reportOf(w, run)).toMatch(
      /not rolled back: `[^`]+` mem0\/WORKERS "4" -> "8"[^\n]*older than the newest change \(api deployed local:api:1 -> local:api:2\)[^\n]*config-rollback undoes this one/,
    );
  });

  it('plan mode reports what would change, from what to what, and changes nothing', async () => {
    const w = await open();
    await ciDeploy(w, { FAULT_ERROR_PERCENT: '50' });
    await setWatched(w, AUTONOMOUS, 'true');
    const versions = await watched(w, AUTONOMOUS);

    const code = await w.engine.run('code-rollback', { reason: 'What would a rollback do?', plan: true });
    const config = await w.engine.run('config-rollback', { reason: 'What would a rollback do?', plan: true });

    expect(code.status).toBe('SUCCEEDED');
    expect(pathOf(code)).toEqual(['ValidateInput', 'PlanOnly', 'Planned']);
    expect(code.output).toMatchObject({ outcome: 'planned', action: 'rollback', changed: false });
    expect((code.output as { changes: string[] }).changes).toEqual([
      expect.stringMatching(/^api: local:api:2 -> local:api:1 \(update-service\)/),
      expect.stringMatching(/^sidecar: nothing to do/),
    ]);
    expect((config.output as { changes: string[] }).changes).toContainEqual(
      expect.stringMatching(/^mcp\/AUTONOMOUS_MODE: "true" \(v2\) -> "false", then restart api/),
    );
    // A selection that matches no change selects nothing (not every target).
    const since = await w.engine.run('code-rollback', {
      reason: 'What changed since now?',
      plan: true,
      since: new Date().toISOString(),
    });
    expect(since.output).toMatchObject({ action: 'nothing', changes: [] });
    expect(await apiOn(w)).toEqual({ taskDefinition: 'local:api:2', rollout: 'COMPLETED' });
    expect(await watched(w, AUTONOMOUS)).toEqual(versions);
    expect(await w.lock()).toBeUndefined();
    expect(w.engine.notifications).toEqual([]);
  });

  it('nothing known good (the build before was alarmed during its bake): refused, nothing changed, never a guess', async () => {
    const w = await open();
    const name = `switchback-${w.config.environment}-${ERROR_RATE}`;
    w.alarmHistory.record(name, 'ALARM', new Date(Date.now() - 10 * 60_000));
    w.alarmHistory.record(name, 'OK', new Date(Date.now() - 9 * 60_000));
    await ciDeploy(w, { FAULT_ERROR_PERCENT: '50' });

    const run = await w.engine.run('rollback-router', w.alarmEvent(ERROR_RATE));

    expect(run.status).toBe('FAILED');
    expect(run.error).toBe('RollbackRefusedError');
    const [child] = runsOf(w, 'code-rollback');
    expect(child?.status).toBe('FAILED');
    expect(child?.error).toBe('RollbackRefusedError');
    expect(child?.cause).toMatch(
      /NoKnownGoodError: Nothing known good to go back to for one service: api: HOLD/,
    );
    expect(child?.cause).toMatch(
      /s004-error-rate was in ALARM in the 30 minutes before the journal first saw it/,
    );
    expect(await apiOn(w)).toEqual({ taskDefinition: 'local:api:2', rollout: 'COMPLETED' });
    expect(await w.lock()).toBeUndefined();
  });

  it('a rollback that cannot verify holds: maintenance served, the lock needs-operator, the notice says so', async () => {
    const w = await open({ faults: [{ procedure: 'code-rollback', state: 'VerifyMemoryThroughApi' }] });
    await ciDeploy(w, { FAULT_ERROR_PERCENT: '50' });

    const run = await w.engine.run('rollback-router', w.alarmEvent(ERROR_RATE));

    expect(run.status).toBe('FAILED');
    expect(run.error).toBe('RollbackFailedError');
    const [child] = runsOf(w, 'code-rollback');
    expect(child?.error).toBe('RollbackFailedError');
    expect(pathOf(child as ExecutionRecord)).toContain('MarkLockNeedsOperator');
    expect((await w.parameters.get('maintenance-mode')).value).toBe('on');
    expect((await w.apiHealth()).body.maintenance).toBe(true);
    expect(await w.lock()).toMatchObject({ status: 'needs-operator' });
    expect(w.engine.notifications.some((n) => /ACTION NEEDED/.test(n.subject))).toBe(true);
  });

  it('an alarm storm during a code rollback starts nothing more: every other alarm is recorded on the incident', async () => {
    const storm: Promise<ExecutionRecord>[] = [];
    const w = await open({
      hooks: {
        'code-rollback:ApplyRollback': () => {
          for (const id of ['s001-error-rate', 's004-degradation', ERROR_RATE])
            storm.push(
              world?.engine.run('rollback-router', world.alarmEvent(id)) as Promise<ExecutionRecord>,
            );
        },
      },
    });
    await ciDeploy(w, { FAULT_ERROR_PERCENT: '50' });

    const run = await w.engine.run('rollback-router', w.alarmEvent(ERROR_RATE));
    const others = await Promise.all(storm);

    expect(run.output).toMatchObject({ outcome: 'rolled-back' });
    expect(others.map((o) => (o.output as { outcome: string }).outcome)).toEqual(
      Array(3).fill('deduplicated'),
    );
    expect(runsOf(w, 'code-rollback')).toHaveLength(1);
    expect(await apiOn(w)).toEqual({ taskDefinition: 'local:api:1', rollout: 'COMPLETED' });
    expect(await w.lock()).toBeUndefined();
  });

  it('a completed feature rollout, then the alarm: feature-disable turns the feature off, verified', async () => {
    const w = await open({ featureFlagCacheMs: 50 });
    const rollout = await w.engine.run('feature-rollout', {
      reason: 'roll out memory and context',
      requestedBy: 'test',
      bakeSeconds: { infrastructure: 1, internal: 1, canary: 1, full: 1 },
      gate: { intervalSeconds: 1 },
      checkWithinSeconds: 10,
    });
    expect(rollout.status).toBe('SUCCEEDED');
    expect(JSON.parse((await w.parameters.get('features/memory-context')).value)).toMatchObject({
      enabled: true,
      percentage: 100,
    });

    const run = await w.engine.run('rollback-router', w.alarmEvent(ERROR_RATE));

    expect(run.output).toMatchObject({ outcome: 'rolled-back', lock: 'released' });
    expect(pathOf(run)).toContain('RunFeatureDisable');
    expect(runsOf(w, 'feature-disable').map((e) => e.status)).toEqual(['SUCCEEDED']);
    expect(JSON.parse((await w.parameters.get('features/memory-context')).value)).toMatchObject({
      enabled: false,
    });
    expect(await w.lock()).toBeUndefined();
    // The journal: the rollout completed, then rolled back by the disable (a second alarm undoes nothing more).
    const own = (await w.journalEntries()).filter((e) => e.subject === 'procedure:feature-rollout');
    expect(own.map((e) => (e.change.type === 'procedure' ? e.change.status : null))).toEqual([
      'completed',
      'rolled-back',
    ]);
  });
});
