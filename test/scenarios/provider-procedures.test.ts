import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { World } from '../../local/world';
import {
  changeRecordOf,
  flagState,
  memoryRoundTrip,
  noticeOf,
  pathOf,
  startWorld,
  type TestWorldOptions,
  until,
} from '../support/world';

/**
 * Whole provider procedures, executed from the ASL files against the reference memory stack.
 * Each case asserts the path taken and the end state: flags, the provider the API really uses,
 * the lock, the change record and the notifications.
 */
let world: (World & { dispose(): Promise<void> }) | undefined;
afterEach(async () => {
  await world?.dispose();
  world = undefined;
});

async function open(options: TestWorldOptions = {}) {
  world = await startWorld(options);
  return world;
}

const CUTOVER = { reason: 'move memory to the mem0 sidecar', requestedBy: 'test' };
const ROLLBACK = { reason: 'put native memory back', requestedBy: 'test' };

function outcomes(w: World, arn: string): string[] {
  return w.engine.notifications.filter((n) => n.executionArn === arn).map((n) => n.attributes.outcome ?? '');
}

describe('provider-cutover', () => {
  it('happy path: switches to http, verifies through the API, records the change and releases the lock', async () => {
    const w = await open();
    const before = await flagState(w);
    const run = await w.engine.run('provider-cutover', CUTOVER);

    expect(run.status).toBe('SUCCEEDED');
    expect(pathOf(run)).toEqual([
      'ValidateInput',
      'AcquireLock',
      'PreflightApiHealth',
      'PreflightSidecarHealth',
      'PreflightSidecarSmoke',
      'BackupBeforeChange',
      'BackupDatabase',
      'RecordChange',
      'SwitchToHttp',
      'RestartApi',
      ...pathOf(run).filter((s) => s === 'WaitForStable' || s === 'CheckStable'),
      'VerifyApiProvider',
      'VerifySidecar',
      'VerifyMemoryThroughApi',
      'CloseChange',
      'ReleaseLock',
      'Notify',
      'PublishNotice',
      'CutoverSucceeded',
    ]);
    const flags = await flagState(w);
    expect(flags['memory/provider']).toEqual({
      value: 'http',
      version: before['memory/provider']!.version + 1,
    });
    expect(flags['memory/http-base']!.value).toBe(w.config.endpoints.sidecar);
    expect(flags['maintenance-mode']!.value).toBe('off');
    // The API really serves from the sidecar: a memory written through the API is in the sidecar.
    const trip = await memoryRoundTrip(w, 'the user prefers dark roast coffee');
    expect(trip).toEqual({ written: 201, provider: 'http', recalled: true });
    expect(await w.lock()).toBeUndefined();
    const record = await changeRecordOf(w, run.name);
    expect(record?.status).toBe('completed');
    expect(record?.previous['memory/provider']).toEqual(before['memory/provider']);
    expect(record?.target).toEqual({
      'memory/provider': 'http',
      'memory/http-base': w.config.endpoints.sidecar,
    });
    expect(record?.services.api.taskDefinition).toBe('local:api:1');
    // Seed 000: a verified backup of the memory store was taken before anything changed, and named.
    const backup = w.engine.executions.find((e) => e.procedure === 'backup' && e.parentArn === run.arn);
    expect(backup?.status).toBe('SUCCEEDED');
    expect(backup?.output).toMatchObject({ store: 'sqlite', database: 'memory', verified: true });
    expect(record?.backups).toEqual([
      expect.objectContaining({
        id: (backup!.output as { backupId: string }).backupId,
        store: 'sqlite',
        database: 'memory',
      }),
    ]);
    expect(outcomes(w, run.arn)).toEqual(['cutover-succeeded']);
  });

  it('sidecar down at preflight: stops before any change, lock released, flags untouched', async () => {
    const w = await open();
    await w.services.stop('sidecar');
    const before = await flagState(w);
    const run = await w.engine.run('provider-cutover', CUTOVER);

    expect(run.status).toBe('FAILED');
    expect(run.error).toBe('PreflightFailedError');
    expect(run.cause).toMatch(/HealthCheckFailedError: sidecar health check/);
    expect(pathOf(run)).toEqual([
      'ValidateInput',
      'AcquireLock',
      'PreflightApiHealth',
      'PreflightSidecarHealth',
      'ReleaseLockNothingChanged',
      'Notify',
      'PublishNotice',
      'PreflightFailed',
    ]);
    // The health check was retried before giving up.
    expect(run.steps.find((s) => s.state === 'PreflightSidecarHealth')?.retries).toBe(2);
    expect(await flagState(w)).toEqual(before);
    expect((await w.apiHealth()).body.provider).toBe('native');
    expect(await w.lock()).toBeUndefined();
    expect(await changeRecordOf(w, run.name)).toBeUndefined();
    expect(outcomes(w, run.arn)).toEqual(['preflight-failed']);
  });

  it('memory smoke fails after the flip: rolled back to native from the change record and verified', async () => {
    const w = await open({
      hooks: {
        // The sidecar's key is rotated under the API: the API can no longer write to mem0.
        'provider-cutover:VerifyMemoryThroughApi': async () => {
          const target = world!;
          target.parameters.putParameter(
            target.sidecarApiKeyParameter,
            'rotated-key-the-api-does-not-have',
            'SecureString',
          );
          await target.services.start('sidecar');
        },
      },
    });
    const run = await w.engine.run('provider-cutover', CUTOVER);

    expect(run.status).toBe('FAILED');
    expect(run.error).toBe('CutoverRolledBackError');
    expect(run.cause).toMatch(/SmokeTestFailedError/);
    expect(pathOf(run).slice(-7)).toEqual([
      'VerifyMemoryThroughApi',
      'RollBack',
      'StartRollback',
      'ReleaseLockAfterRollback',
      'Notify',
      'PublishNotice',
      'CutoverRolledBack',
    ]);
    const rollback = w.engine.executions.find(
      (e) => e.parentArn === run.arn && e.procedure === 'provider-rollback',
    );
    expect(rollback?.status).toBe('SUCCEEDED');
    expect(pathOf(rollback!)).toContain('PreflightFlagDrift');
    expect((await flagState(w))['memory/provider']!.value).toBe('native');
    expect(await memoryRoundTrip(w, 'native memory still works')).toEqual({
      written: 201,
      provider: 'native',
      recalled: true,
    });
    expect(await w.lock()).toBeUndefined();
    expect((await changeRecordOf(w, run.name))?.status).toBe('rolled-back');
    // One notification for the incident, from the cutover: the inherited rollback stays quiet.
    expect(w.engine.notifications.map((n) => n.attributes.outcome)).toEqual(['rolled-back']);
    const notice = noticeOf(w.engine.notifications[0]);
    expect(notice).toMatchObject({ outcome: 'rolled-back', error: 'SmokeTestFailedError', lock: 'released' });
    // The API can no longer reach mem0: the write fails (502) or, on a loaded machine, times out.
    expect(notice.cause).toMatch(/^api smoke test at http:\/\/127\.0\.0\.1:\d+: /);
    // What people read: the environment and outcome in the subject, what happened, what to do next.
    const sent = w.engine.notifications[0]!;
    expect(sent.subject).toBe('Switchback rehearsal: provider cutover failed and was rolled back');
    expect(sent.message).toContain(`What happened\n  ${notice.summary}`);
    expect(sent.message).toContain('back on the state recorded before the change, as verified above');
    expect(sent.message).toContain(`  execution ARN: ${run.arn}`);
  });

  it('restart never becomes stable: bounded wait, then rollback to native', async () => {
    const w = await open({
      stabilityMaxAttempts: 15,
      // The sidecar dies after preflight: an API started with MEMORY_PROVIDER=http refuses to start.
      hooks: { 'provider-cutover:RestartApi': () => world!.services.stop('sidecar') },
    });
    const run = await w.engine.run('provider-cutover', CUTOVER);

    expect(run.status).toBe('FAILED');
    expect(run.error).toBe('CutoverRolledBackError');
    expect(run.cause).toMatch(/ServiceNotStableError/);
    expect(run.steps.filter((s) => s.state === 'CheckStable')).toHaveLength(15);
    expect(run.steps.map((s) => s.state)).toContain('NotStable');
    expect((await flagState(w))['memory/provider']!.value).toBe('native');
    expect((await w.apiHealth()).body).toMatchObject({ status: 'ok', provider: 'native' });
    expect(await w.lock()).toBeUndefined();
  });

  it('the rollback itself fails: maintenance mode on, lock held for an operator, notification says so', async () => {
    const w = await open({
      stabilityMaxAttempts: 10,
      hooks: {
        'provider-cutover:VerifyApiProvider': () => {
          throw Object.assign(new Error('api reports the wrong provider'), {
            name: 'HealthCheckFailedError',
          });
        },
        // The native store's volume is broken (its file is gone, a directory stands in its place):
        // the API cannot start on the native provider either.
        'provider-rollback:RestartApi': () => {
          const file = join(world!.dir, 'data', 'api-native-memories.sqlite');
          for (const path of [file, `${file}-wal`, `${file}-shm`]) rmSync(path, { force: true });
          mkdirSync(file);
        },
      },
    });
    const run = await w.engine.run('provider-cutover', CUTOVER);

    expect(run.status).toBe('FAILED');
    expect(run.error).toBe('RollbackFailedError');
    const rollback = w.engine.executions.find(
      (e) => e.parentArn === run.arn && e.procedure === 'provider-rollback',
    )!;
    expect(rollback.status).toBe('FAILED');
    expect(rollback.error).toBe('RollbackFailedError');
    // The hold: maintenance on, the API restarted into it (it cannot start here), the lock marked,
    // then what was left observed.
    const held = pathOf(rollback);
    expect(held.filter((s) => !s.startsWith('Hold'))).toEqual(
      expect.arrayContaining(['EnterMaintenance', 'RestartIntoMaintenance', 'MarkLockNeedsOperator']),
    );
    expect(held.slice(-4)).toEqual([
      'MarkLockNeedsOperator',
      'ReadHeldLock',
      'ObserveHold',
      'RollbackFailed',
    ]);
    expect((await flagState(w))['maintenance-mode']!.value).toBe('on');
    // Held on purpose: the janitor ran for both failed executions and left it alone.
    expect(w.engine.executions.filter((e) => e.procedure === 'lock-janitor')).toHaveLength(2);
    expect(await w.lock()).toMatchObject({ owner: run.arn, status: 'needs-operator' });
    const notice = noticeOf(w.engine.notifications.at(-1));
    // The notice says what was observed: the flag is on, the lock is held, and the API (whose store is
    // broken) does not answer, so it is not claimed to serve maintenance.
    expect(notice).toMatchObject({
      outcome: 'rollback-failed',
      maintenanceMode: 'on',
      apiMaintenance: 'unreachable',
      lock: 'held',
      lockStatus: 'needs-operator',
    });
    expect(notice.summary).toMatch(
      /Observed: maintenance-mode flag on; the API did not answer \/health; the environment lock is HELD \(needs-operator\)/,
    );
    // A new change is refused until an operator releases the lock.
    const next = await w.engine.run('provider-rollback', ROLLBACK);
    expect(next.error).toBe('LockHeldError');
    expect(next.cause).toContain(run.arn);
  });

  it('a second cutover while one runs is refused by the lock and changes nothing', async () => {
    let second: Awaited<ReturnType<World['engine']['run']>> | undefined;
    let flagsDuring: Awaited<ReturnType<typeof flagState>> | undefined;
    const w = await open({
      hooks: {
        'provider-cutover:PreflightApiHealth': async ({ execution }) => {
          if (second || execution.name !== 'first') return;
          flagsDuring = await flagState(world!);
          second = await world!.engine.run('provider-cutover', CUTOVER, { name: 'second' });
          expect(await flagState(world!)).toEqual(flagsDuring);
        },
      },
    });
    const first = await w.engine.run('provider-cutover', CUTOVER, { name: 'first' });

    expect(second?.status).toBe('FAILED');
    expect(second?.error).toBe('LockHeldError');
    expect(second?.cause).toBe(
      `Environment ${w.config.environment} is locked by ${first.arn} (provider-cutover, lock status held). Nothing was changed.`,
    );
    expect(pathOf(second!)).toEqual(['ValidateInput', 'AcquireLock', 'ReadLockHolder', 'LockHeld']);
    expect(await changeRecordOf(w, 'second')).toBeUndefined();
    expect(first.status).toBe('SUCCEEDED');
    expect(await w.lock()).toBeUndefined();
  });

  it.each([
    ['no reason', {}, /reason/],
    [
      'an unknown field (a typo must not be ignored)',
      { reason: 'switch it', emergancy: true },
      /Unrecognized key.*emergancy/,
    ],
    ['a non-URL http base', { reason: 'switch it', httpBase: 'file:///etc/passwd' }, /httpBase/],
    ['not an object', ['switch'], /expected object/],
  ])('malformed input (%s) is refused before any side effect', async (_name, input, message) => {
    const w = await open();
    const before = await flagState(w);
    const run = await w.engine.run('provider-cutover', input);

    expect(run.status).toBe('FAILED');
    expect(run.error).toBe('InvalidInputError');
    expect(run.cause).toMatch(message);
    expect(pathOf(run)).toEqual(['ValidateInput', 'InputRejected']);
    expect(await flagState(w)).toEqual(before);
    expect(await w.lock()).toBeUndefined();
    expect(await w.blobs.list('')).toEqual([]);
    expect(w.engine.notifications).toEqual([]);
  });

  it('an execution aborted while holding the lock has it released by the janitor', async () => {
    let abort: (() => void) | undefined;
    const w = await open({ hooks: { 'provider-cutover:CheckStable': () => abort?.() } });
    const started = w.engine.start('provider-cutover', CUTOVER);
    abort = started.abort;
    const run = await started.done;

    expect(run.status).toBe('ABORTED');
    expect(await w.lock()).toBeUndefined();
    const janitor = w.engine.executions.find((e) => e.procedure === 'lock-janitor');
    expect(pathOf(janitor!)).toEqual([
      'ReleaseOrphanedIncident',
      'ReadLeftLock',
      'ObserveEnvironment',
      'ReleaseLeakedLock',
      'NotifyReleased',
      'PublishReleasedNotice',
      'Released',
    ]);
    const sent = w.engine.notifications.at(-1);
    expect(sent?.attributes.outcome).toBe('lock-released');
    expect(sent?.subject).toBe(
      `Switchback ${w.config.environment}: released a lock left by a stopped execution`,
    );
    expect(sent?.message).toContain(`${run.arn} ended ABORTED`);
    expect(noticeOf(sent)).toMatchObject({ stoppedExecution: run.arn, status: 'ABORTED' });
    expect(sent?.message).toContain(
      'What to do next\n  - Check the flags and the change record of the stopped execution',
    );
  });
});

describe('provider-rollback', () => {
  it('started on its own undoes the latest cutover; re-run twice it does no harm', async () => {
    const w = await open();
    const cutover = await w.engine.run('provider-cutover', CUTOVER);
    expect(cutover.status).toBe('SUCCEEDED');

    const first = await w.engine.run('provider-rollback', ROLLBACK);
    const afterFirst = await flagState(w);
    const second = await w.engine.run('provider-rollback', ROLLBACK);
    const third = await w.engine.run('provider-rollback', { ...ROLLBACK, changeId: cutover.name });

    for (const run of [first, second, third]) {
      expect(run.status).toBe('SUCCEEDED');
      expect(run.output).toMatchObject({
        outcome: 'rolled-back',
        changeId: cutover.name,
        provider: 'native',
      });
    }
    expect((first.output as { flags: { changed: boolean }[] }).flags.some((f) => f.changed)).toBe(true);
    expect((second.output as { flags: { changed: boolean }[] }).flags.every((f) => !f.changed)).toBe(true);
    expect(await flagState(w)).toEqual(afterFirst);
    expect(afterFirst['memory/provider']!.value).toBe('native');
    expect(await memoryRoundTrip(w, 'after three rollbacks')).toEqual({
      written: 201,
      provider: 'native',
      recalled: true,
    });
    expect(await w.lock()).toBeUndefined();
    expect((await changeRecordOf(w, cutover.name))?.status).toBe('rolled-back');
    expect(outcomes(w, first.arn)).toEqual(['rolled-back']);
  });

  it('refuses to overwrite a flag someone changed since the cutover; the emergency option skips that preflight', async () => {
    const w = await open();
    const cutover = await w.engine.run('provider-cutover', CUTOVER);
    expect(cutover.status).toBe('SUCCEEDED');
    await w.parameters.put('memory/http-base', 'http://127.0.0.1:9/elsewhere');
    const before = await flagState(w);

    const refused = await w.engine.run('provider-rollback', ROLLBACK);
    expect(refused.status).toBe('FAILED');
    expect(refused.error).toBe('RollbackRefusedError');
    expect(refused.cause).toMatch(/FlagDriftError: Changed since change .*memory\/http-base/);
    expect(await flagState(w)).toEqual(before);
    expect(await w.lock()).toBeUndefined();

    const emergency = await w.engine.run('provider-rollback', { ...ROLLBACK, emergency: true });
    expect(emergency.status).toBe('SUCCEEDED');
    expect(pathOf(emergency)).not.toContain('PreflightFlagDrift');
    const flags = await flagState(w);
    expect(flags['memory/provider']!.value).toBe('native');
    expect(flags['memory/http-base']!.value).toBe(w.config.endpoints.sidecar);
    expect((await w.apiHealth()).body.provider).toBe('native');
  });

  it('with no change record at all, an emergency rollback goes to the native provider', async () => {
    const w = await open();
    await w.parameters.put('memory/provider', 'http');
    await w.services.redeploy('api');
    await until(async () => (await w.apiHealth().catch(() => undefined))?.body.provider === 'http');

    const run = await w.engine.run('provider-rollback', { ...ROLLBACK, emergency: true });
    expect(run.status).toBe('SUCCEEDED');
    expect(run.output).toMatchObject({ source: 'defaults', provider: 'native', changeId: null });
    expect((await w.apiHealth()).body.provider).toBe('native');
  });

  it('an unknown change id is refused, nothing changed', async () => {
    const w = await open();
    const before = await flagState(w);
    const run = await w.engine.run('provider-rollback', { ...ROLLBACK, changeId: 'no-such-change' });
    expect(run.error).toBe('RollbackRefusedError');
    expect(run.cause).toMatch(/ChangeRecordNotFoundError: No change record "no-such-change"/);
    expect(await flagState(w)).toEqual(before);
    expect(await w.lock()).toBeUndefined();
  });
});
