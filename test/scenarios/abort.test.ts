import { afterEach, describe, expect, it } from 'vitest';
import { abort } from '../../cli/operator';
import type { Hook } from '../../local/engine';
import type { World } from '../../local/world';
import { engineClients } from '../support/engine-clients';
import {
  changeRecordOf,
  flagState,
  memoryRoundTrip,
  noticeOf,
  pathOf,
  startWorld,
  until,
} from '../support/world';

/**
 * `switchback abort` against the local engine: the operator command, its AWS calls answered by the
 * engine, the lock table and the discovery parameters of a world. A cutover aborted past its point
 * of no return is rolled back from its change record and verified; one aborted before it changed
 * nothing and its lock is released. Each case asserts the flags, what the API serves, the lock and
 * the change record.
 */
let world: (World & { dispose(): Promise<void> }) | undefined;
afterEach(async () => {
  await world?.dispose();
  world = undefined;
});

/** Fast waits: the settle time after the stop and watch's polling. */
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.min(ms, 100)));

/** A world whose cutover, at `state`, is aborted by the operator; resolves with abort's exit and lines. */
async function abortAt(state: string) {
  let aborted: Promise<{ code: number; lines: string[] }> | undefined;
  const hook: Hook = async ({ execution }) => {
    const lines: string[] = [];
    aborted ??= abort({
      env: w.config.environment,
      execution: execution.arn,
      reason: 'wrong maintenance window',
      by: 'alice',
      clients: engineClients(w),
      write: (l) => lines.push(l),
      sleep,
      pollMs: 100,
    }).then((code) => ({ code, lines }));
    // Hold the cutover here until abort has stopped it (not until its whole rollback ended: on a
    // loaded machine that could outlast this Task's own timeout and fail the cutover instead).
    await Promise.race([aborted, until(() => execution.status !== 'RUNNING', 120_000)]);
  };
  const w = await startWorld({ hooks: { [`provider-cutover:${state}`]: hook } });
  world = w;
  const before = await flagState(w);
  const cut = await w.engine.run('provider-cutover', { reason: 'move memory to the mem0 sidecar' });
  const result = await (aborted as NonNullable<typeof aborted>);
  return { w, cut, before, ...result };
}

describe('switchback abort (local engine)', () => {
  it('past the point of no return: the cutover is stopped and rolled back from its change record, verified', async () => {
    const { w, cut, before, code, lines } = await abortAt('VerifyMemoryThroughApi');
    const env = w.config.environment;

    expect(cut.status).toBe('ABORTED');
    expect(cut.error).toBe('AbortedByOperator');
    expect(cut.cause).toBe('Aborted by alice: wrong maintenance window');
    // The cutover had switched the flags: its rollback ran, from the record, under the taken-over lock.
    expect(pathOf(cut)).toContain('SwitchToHttp');
    const rollbacks = w.engine.executions.filter((e) => e.procedure === 'provider-rollback');
    expect(rollbacks).toHaveLength(1);
    const rollback = rollbacks[0]!;
    expect(rollback.name).toBe(`abort-${cut.name}`);
    expect(rollback.parentArn).toBeUndefined();
    expect(rollback.status).toBe('SUCCEEDED');
    expect(rollback.input).toMatchObject({
      changeId: cut.name,
      requestedBy: 'alice',
      trigger: { source: 'operator', error: 'AbortedByOperator' },
    });
    expect(pathOf(rollback)).toContain('RestoreFlags');
    expect(code).toBe(0);
    expect(lines.slice(0, 3)).toEqual([
      `took the ${env} lock over from ${cut.name} for abort-${cut.name}`,
      `stopped ${cut.name}; letting a step in progress finish (5 s)`,
      `started provider-rollback ${rollback.arn}`,
    ]);
    expect(lines.at(-2)).toBe('ended SUCCEEDED');

    // End state: the flags as before the cutover (values), native served for real, lock free.
    const flags = await flagState(w);
    expect(flags['memory/provider']?.value).toBe(before['memory/provider']?.value);
    expect(flags['memory/http-base']?.value).toBe(before['memory/http-base']?.value);
    expect(flags['maintenance-mode']?.value).toBe('off');
    expect((await w.apiHealth()).body.provider).toBe('native');
    expect(await memoryRoundTrip(w, 'native memory after the abort')).toEqual({
      written: 201,
      provider: 'native',
      recalled: true,
    });
    expect(await w.lock()).toBeUndefined();
    expect((await changeRecordOf(w, cut.name))?.status).toBe('rolled-back');
    // The rollback says so; the aborted cutover's janitor found the lock taken over and left it.
    const sent = w.engine.notifications.filter((n) => n.executionArn === rollback.arn);
    expect(sent.map((n) => n.attributes.outcome)).toEqual(['rolled-back']);
    expect(noticeOf(sent[0]).summary).toMatch(/verified/i);
    const janitor = w.engine.executions.find(
      (e) =>
        e.procedure === 'lock-janitor' &&
        (e.input as { detail: { executionArn: string } }).detail.executionArn === cut.arn,
    );
    expect(pathOf(janitor!).at(-1)).toBe('NothingToRelease');
  });

  it('before the point of no return: the cutover is stopped, nothing had changed, the lock is released', async () => {
    const { w, cut, before, code, lines } = await abortAt('PreflightApiHealth');

    expect(cut.status).toBe('ABORTED');
    expect(pathOf(cut)).not.toContain('SwitchToHttp');
    expect(code).toBe(0);
    expect(lines.at(-1)).toBe(
      `${cut.name} was stopped before SwitchToHttp: nothing had changed, nothing to roll back. Lock released.`,
    );
    expect(w.engine.executions.filter((e) => e.procedure === 'provider-rollback')).toEqual([]);
    expect(await flagState(w)).toEqual(before);
    expect((await w.apiHealth()).body.provider).toBe('native');
    expect(await w.lock()).toBeUndefined();
  });
});
