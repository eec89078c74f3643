import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Fault, Hook } from '../../local/engine';
import { World } from '../../local/world';
import { alarmStateChange } from '../support/alarm-events';
import { flagState, noticeOf, pathOf } from '../support/world';

/**
 * The eight holes a fault-injection sweep found in the shared protocol, each as the scenario that
 * showed it, asserting the end state the protocol promises: forward, restored and verified with
 * the lock released, or held with maintenance served, the lock needs-operator and a notice that
 * says what was observed.
 */
const ENV = 'rehearsal';
const ALARM = `switchback-${ENV}-s004-error-rate`;
const CUTOVER = { reason: 'move memory to the mem0 sidecar' };

let world: (World & { dispose(): Promise<void> }) | undefined;
afterEach(async () => {
  await world?.dispose();
  world = undefined;
});

async function open(options: { hooks?: Record<string, Hook>; faults?: Fault[] } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'switchback-exits-'));
  const w = await World.start({
    dir,
    environment: ENV,
    timing: { stabilityMaxAttempts: 20, httpTimeoutMs: 2_000 },
    engine: { waitOverrideMs: 100, hooks: options.hooks, faults: options.faults },
  });
  world = Object.assign(w, {
    async dispose() {
      await w.close();
      rmSync(dir, { recursive: true, force: true });
    },
  });
  return world;
}

const notices = (w: World) =>
  w.engine.notifications.map((n) => ({
    outcome: n.attributes.outcome as string | undefined,
    message: n.message,
  }));
const janitorsOf = (w: World, arn: string) =>
  w.engine.executions.filter(
    (e) =>
      e.procedure === 'lock-janitor' &&
      (e.input as { detail: { executionArn: string } }).detail.executionArn === arn,
  );
/** A verification that fails whatever the API answers: the rollback path is taken. */
const failVerification = () => {
  throw Object.assign(new Error('api reports the wrong provider'), { name: 'HealthCheckFailedError' });
};

describe('every exit path accounted for', () => {
  it('hole 1: a release that fails is never caught and forgotten: the execution fails and the janitor frees the lock', async () => {
    const w = await open({ faults: [{ procedure: 'feature-disable', state: 'ReleaseLock' }] });
    const run = await w.engine.run('feature-disable', { reason: 'feature misbehaves' });

    // Before: caught with States.ALL, SUCCEEDED, "Lock released." sent, the lock held forever.
    expect(run.status).toBe('FAILED');
    expect(run.error).toBe('InjectedFailureError');
    expect(notices(w).map((n) => n.outcome)).not.toContain('disabled');
    const [janitor] = janitorsOf(w, run.arn);
    expect(pathOf(janitor!).slice(-4)).toEqual([
      'ReleaseLeakedLock',
      'NotifyReleased',
      'PublishReleasedNotice',
      'Released',
    ]);
    expect(await w.lock()).toBeUndefined();
    expect(notices(w).at(-1)?.outcome).toBe('lock-released');
  });

  it('hole 2: when marking the lock needs-operator fails, the janitor keeps it instead of freeing a held environment', async () => {
    const w = await open({
      hooks: { 'provider-cutover:VerifyApiProvider': failVerification },
      faults: [
        { procedure: 'provider-rollback', state: 'RestoreFlags' },
        { procedure: 'provider-rollback', state: 'MarkLockNeedsOperator' },
        { procedure: 'provider-cutover', state: 'MarkLockNeedsOperator' },
      ],
    });
    const run = await w.engine.run('provider-cutover', CUTOVER);

    expect(run.error).toBe('RollbackFailedError');
    // Before: the lock stayed 'held' and the janitor deleted it, maintenance on, nothing verified.
    expect((await flagState(w))['maintenance-mode']?.value).toBe('on');
    expect(await w.lock()).toMatchObject({ owner: run.arn, status: 'needs-operator' });
    const [janitor] = janitorsOf(w, run.arn);
    expect(pathOf(janitor!).slice(-4)).toEqual(['KeepLeftLock', 'NotifyKept', 'PublishKeptNotice', 'Kept']);
    const kept = notices(w).find((n) => n.outcome === 'lock-kept');
    expect(kept?.message).toContain('the lock was kept (status needs-operator)');
    expect(kept?.message).toContain('Observed: maintenance-mode flag on');
  });

  it('hole 3: a hold whose maintenance step failed says so: the notice reports what was observed, not what was meant', async () => {
    const w = await open({
      hooks: { 'provider-cutover:VerifyApiProvider': failVerification },
      faults: [
        { procedure: 'provider-rollback', state: 'RestoreFlags' },
        { procedure: 'provider-rollback', state: 'EnterMaintenance' },
        { procedure: 'provider-cutover', state: 'EnterMaintenance' },
      ],
    });
    const run = await w.engine.run('provider-cutover', CUTOVER);

    expect(run.error).toBe('RollbackFailedError');
    const notice = noticeOf(w.engine.notifications.at(-1));
    // Before: "Maintenance mode is ON ... lock HELD" whatever happened.
    expect(notice).toMatchObject({
      outcome: 'rollback-failed',
      maintenanceMode: 'off',
      apiMaintenance: 'off',
    });
    expect(notice.summary).toContain(
      'Observed: maintenance-mode flag off; the API does NOT serve maintenance;',
    );
    expect(notice.summary).toContain('setting maintenance mode failed (InjectedFailureError)');
    expect((await flagState(w))['maintenance-mode']?.value).toBe('off');
  });

  it('found by the sweep: a rollout whose disable cannot verify holds for an operator and says so (its hold polls with the stage timing)', async () => {
    const w = await open({
      faults: [
        // The first phase changes the flag, then fails: the rollout runs feature-disable, which fails too.
        { procedure: 'feature-rollout', state: 'StartPhase', kind: 'after' },
        { procedure: 'feature-disable', state: 'DisableFlag', parent: 'feature-rollout' },
      ],
    });
    const run = await w.engine.run('feature-rollout', {
      reason: 'roll out Memory & Context',
      bakeSeconds: { infrastructure: 1, internal: 1, canary: 1, full: 1 },
      gate: { intervalSeconds: 1 },
    });

    // Before: HoldCheckStable read $.request.timing, which the rollout's request did not carry:
    // States.Runtime (no Catch matches it), no notice, the hold never reported.
    expect(run.error).toBe('RollbackFailedError');
    expect(pathOf(run)).toEqual(
      expect.arrayContaining(['RollBack', 'EnterMaintenance', 'HoldCheckStable', 'ObserveHold', 'Notify']),
    );
    expect(await w.lock()).toMatchObject({ owner: run.arn, status: 'needs-operator' });
    expect((await flagState(w))['maintenance-mode']?.value).toBe('on');
    expect((await w.apiHealth()).body).toMatchObject({ maintenance: true });
    const held = notices(w).find((n) => n.outcome === 'rollback-failed');
    expect(held?.message).toContain(
      'Observed: maintenance-mode flag on; the API serves maintenance; the environment lock is HELD (needs-operator).',
    );
  });

  it('found by the sweep: a hold that observes the API while it is still restarting waits for its answer, and says what it serves', async () => {
    const w = await open({
      faults: [
        // The rollback's restart starts a new API task and then fails; so does the hold's own restart.
        { procedure: 'provider-rollback', state: 'RestartApi', kind: 'after' },
        { procedure: 'provider-rollback', state: 'RestartIntoMaintenance' },
      ],
    });
    expect((await w.engine.run('provider-cutover', CUTOVER)).status).toBe('SUCCEEDED');
    const run = await w.engine.run('provider-rollback', { reason: 'put the native provider back' });

    expect(run.error).toBe('RollbackFailedError');
    expect(pathOf(run)).toEqual(expect.arrayContaining(['RestartIntoMaintenance', 'ObserveHold', 'Notify']));
    expect(await w.lock()).toMatchObject({ owner: run.arn, status: 'needs-operator' });
    expect((await flagState(w))['maintenance-mode']?.value).toBe('on');
    expect((await w.apiHealth()).body).toMatchObject({ maintenance: false });
    // Before: "the API did not answer /health" (it was starting), while it came back without maintenance.
    const held = notices(w).find((n) => n.outcome === 'rollback-failed');
    expect(held?.message).toContain(
      'Observed: maintenance-mode flag on; the API does NOT serve maintenance;',
    );
  });

  it('hole 4: a router that stops a cutover and cannot start the rollback holds the environment, never releases it', async () => {
    let router: ReturnType<World['engine']['run']> | undefined;
    const w = await open({
      hooks: {
        'provider-cutover:VerifyMemoryThroughApi': async ({ engine }) => {
          router ??= engine.run(
            'rollback-router',
            alarmStateChange(ALARM, { at: new Date(Date.now() - 1_000) }),
          );
          await router;
        },
      },
      faults: [{ procedure: 'rollback-router', state: 'StartProviderRollback' }],
    });
    const cut = await w.engine.run('provider-cutover', CUTOVER);
    const run = await router!;

    expect(cut.status).toBe('ABORTED');
    // Before: ReleaseLock, flags left on http, unverified, maintenance off.
    expect(pathOf(run)).toEqual(
      expect.arrayContaining(['StopInFlight', 'RunProviderRollback', 'EnterMaintenance']),
    );
    expect(pathOf(run)).not.toContain('ReleaseLock');
    expect(await w.lock()).toMatchObject({ owner: run.arn, status: 'needs-operator' });
    expect((await flagState(w))['maintenance-mode']?.value).toBe('on');
    expect((await w.apiHealth()).body).toMatchObject({ maintenance: true });
  });

  it('hole 5: a router that dies with its incident open does not silence the next alarm', async () => {
    const w = await open({
      hooks: {
        // The router dies (aborted) right after it opened the incident.
        'rollback-router:ReadLock': async ({ engine, execution }) => {
          await engine.stop(execution.arn, { error: 'Killed', cause: 'the router died' });
        },
      },
    });
    const first = await w.engine.run(
      'rollback-router',
      alarmStateChange(ALARM, { at: new Date(Date.now() - 1_000) }),
    );
    expect(first.status).toBe('ABORTED');
    await new Promise((r) => setTimeout(r, 200));
    expect(await w.dynamo.getLock(w.lockTable, `${ENV}#incident`)).toMatchObject({ status: 'orphaned' });
    expect(notices(w).map((n) => n.outcome)).toContain('incident-orphaned');

    // Before: "deduplicated" for the whole 30-minute cool-down.
    const second = await w.engine.run(
      'rollback-router',
      alarmStateChange(ALARM, { at: new Date(Date.now() - 1_000) }),
    );
    expect(pathOf(second)).not.toContain('RecordOnIncident');
    expect(pathOf(second).slice(0, 3)).toEqual(['ParseAlarm', 'OpenIncident', 'ReadLock']);
  });

  it('hole 6: an input naming a parent inherits nothing: only the execution the holder delegated to may', async () => {
    let claim: Awaited<ReturnType<World['engine']['run']>> | undefined;
    const w = await open({
      hooks: {
        // While the cutover holds the lock, an operator starts a rollback that claims it as parent.
        'provider-cutover:VerifyMemoryThroughApi': async ({ engine, execution }) => {
          claim = await engine.run('provider-rollback', {
            reason: 'claiming the lock',
            parentExecutionId: execution.arn,
          });
        },
      },
    });
    const cut = await w.engine.run('provider-cutover', CUTOVER);

    // Before: the claim took the lock as the cutover's owner and never released it.
    expect(claim?.status).toBe('FAILED');
    expect(claim?.error).toBe('LockHeldError');
    expect(pathOf(claim!)).not.toContain('RestoreFlags');
    expect(cut.status).toBe('SUCCEEDED');
    expect((await flagState(w))['memory/provider']?.value).toBe('http');
    expect(await w.lock()).toBeUndefined();
  });

  it('hole 7: maintenance mode takes effect: a held environment is served in maintenance by the API', async () => {
    const w = await open({
      hooks: { 'provider-cutover:VerifyApiProvider': failVerification },
      faults: [{ procedure: 'provider-rollback', state: 'VerifyMemoryThroughApi' }],
    });
    const run = await w.engine.run('provider-cutover', CUTOVER);

    expect(run.error).toBe('RollbackFailedError');
    // Before: the flag said on, the API still served maintenance: false.
    expect((await w.apiHealth()).body).toMatchObject({ maintenance: true });
    const notice = noticeOf(w.engine.notifications.at(-1));
    expect(notice).toMatchObject({
      maintenanceMode: 'on',
      apiMaintenance: 'on',
      lockStatus: 'needs-operator',
    });
    expect(notice.summary).toContain(
      'Observed: maintenance-mode flag on; the API serves maintenance; the environment lock is HELD (needs-operator).',
    );
  });

  it('a notice whose text cannot be composed is still published: its summary, then the notice as JSON', async () => {
    const w = await open({ faults: [{ procedure: 'feature-disable', state: 'Notify' }] });
    const run = await w.engine.run('feature-disable', { reason: 'feature misbehaves' });

    // The notification failing to compose changes nothing about the outcome.
    expect(run.status).toBe('SUCCEEDED');
    expect(pathOf(run).slice(-3)).toEqual(['Notify', 'PublishNotice', 'Disabled']);
    expect(run.steps.find((s) => s.state === 'Notify')?.outcome).toBe('caught');
    const sent = w.engine.notifications.filter((n) => n.executionArn === run.arn);
    expect(sent).toHaveLength(1);
    const notice = noticeOf(sent[0]);
    expect(notice.outcome).toBe('feature-disabled');
    expect(sent[0]?.subject).toBe(notice.subject);
    expect(sent[0]?.message).toBe(
      `${notice.summary} (The readable notification could not be composed: InjectedFailureError.) The notice as JSON: ${sent[0]?.attributes.notice}`,
    );
  });

  describe('hole 8: inputs reach no further than the stage', () => {
    it('an httpBase outside the stage (the instance metadata address) is refused before anything is called', async () => {
      const w = await open();
      const before = await flagState(w);
      const run = await w.engine.run('provider-cutover', {
        ...CUTOVER,
        httpBase: 'http://169.254.169.254/latest',
      });
      expect(run.error).toBe('InvalidInputError');
      expect(run.cause).toContain("is not the stage's sidecar");
      expect(pathOf(run)).toEqual(['ValidateInput', 'InputRejected']);
      expect(await flagState(w)).toEqual(before);
    });

    it('alarms from another account or region, and alarms older than the detection budget, are refused', async () => {
      const w = await open();
      const foreign = await w.engine.run(
        'rollback-router',
        alarmStateChange(ALARM, { account: '999999999999', at: new Date(Date.now() - 1_000) }),
      );
      expect(foreign.error).toBe('InvalidInputError');
      expect(foreign.cause).toContain('comes from account 999999999999');
      const elsewhere = await w.engine.run(
        'rollback-router',
        alarmStateChange(ALARM, { region: 'us-east-1', at: new Date(Date.now() - 1_000) }),
      );
      expect(elsewhere.cause).toContain('in us-east-1');
      const stale = await w.engine.run(
        'rollback-router',
        alarmStateChange(ALARM, { at: new Date(Date.now() - 11 * 24 * 3600_000) }),
      );
      expect(stale.error).toBe('InvalidInputError');
      expect(stale.cause).toContain('past the 15-minute detection budget');
      expect(await w.dynamo.getLock(w.lockTable, `${ENV}#incident`)).toBeUndefined();
    });

    it('an alarm that went off before the last change started does not undo that change', async () => {
      const w = await open();
      const alarmAt = new Date(Date.now() - 120_000);
      const cut = await w.engine.run('provider-cutover', CUTOVER);
      expect(cut.status).toBe('SUCCEEDED');
      const run = await w.engine.run('rollback-router', alarmStateChange(ALARM, { at: alarmAt }));
      expect(pathOf(run)).not.toContain('RunProviderRollback');
      expect((run.output as { summary: string }).summary).toContain('did not cause it');
      expect((await flagState(w))['memory/provider']?.value).toBe('http');
    });
  });
});
