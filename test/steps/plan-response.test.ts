import { describe, expect, it } from 'vitest';
import { type ChangeRecord, recordKey } from '../../functions/change-record/record';
import { planResponse, type ResponsePlan } from '../../functions/plan-response/plan-response';
import { InvalidInputError } from '../../functions/shared/errors';
import { invokeStep } from '../../functions/shared/step';
import { fakeDeps } from '../support/fakes';

const CUTOVER = 'arn:aws:states:eu-west-1:123456789012:execution:switchback-test-provider-cutover:co-7';
const ROLLBACK = 'arn:aws:states:eu-west-1:123456789012:execution:switchback-test-provider-rollback:rb-1';
const S = (v: string) => ({ S: v });

function lock(attrs: Record<string, string>) {
  return { Item: Object.fromEntries(Object.entries({ pk: 'test', ...attrs }).map(([k, v]) => [k, S(v)])) };
}
const cutoverLock = (extra: Record<string, string> = {}) =>
  lock({
    owner: CUTOVER,
    holder: CUTOVER,
    procedure: 'provider-cutover',
    status: 'held',
    changeId: 'co-7',
    ...extra,
  });

function record(
  changeId: string,
  status: ChangeRecord['status'],
  completedAt: string,
  procedure = 'provider-cutover',
) {
  const openedAt = new Date(Date.parse(completedAt) - 60_000).toISOString();
  return {
    schemaVersion: 1,
    changeId,
    environment: 'test',
    procedure,
    executionId: `arn:x:${changeId}`,
    reason: 'move memory',
    requestedBy: 'alice',
    openedAt,
    previous: { 'memory/provider': { value: 'native', version: 1 } },
    target: { 'memory/provider': 'http' },
    services: { api: { taskDefinition: 'td:1' } },
    backups: [],
    status,
    events: [
      { at: openedAt, status: 'open', executionId: 'x' },
      ...(status === 'open' ? [] : [{ at: completedAt, status: 'completed', executionId: 'x' }]),
      ...(status === 'rolled-back' ? [{ at: completedAt, status: 'rolled-back', executionId: 'y' }] : []),
    ],
  };
}

function depsWith(...records: ReturnType<typeof record>[]) {
  const d = fakeDeps();
  for (const r of records)
    d.blobs.putText(recordKey(d.config.changeRecords.prefix, r.changeId), JSON.stringify(r));
  return d;
}

const decide = (lockRead: unknown, d = fakeDeps(), maxChangeAgeHours = 24) =>
  invokeStep(
    planResponse,
    {
      phase: 'decide',
      procedure: 'provider-rollback',
      undoes: ['provider-cutover'],
      maxChangeAgeHours,
      lock: lockRead,
    },
    d,
  ) as Promise<ResponsePlan>;

// The fake clock reads 2025-03-01T10:00:00Z.
describe('plan-response: decide', () => {
  it('a cutover in flight that the rollback undoes: stop it and roll back its change', async () => {
    const plan = await decide(cutoverLock());
    expect(plan).toEqual({
      action: 'stop-in-flight',
      why: `provider-cutover ${CUTOVER} is in flight: stop it and roll back change co-7`,
      procedure: 'provider-rollback',
      changeId: 'co-7',
      inFlight: { owner: CUTOVER, procedure: 'provider-cutover', status: 'held' },
      lastChange: null,
    });
  });

  it('a database cutover in flight under any rollback alarm: stopped and rolled back by its own rollback', async () => {
    // The alarm's matrix says provider-rollback (seed 002's error rate is a config error), but the
    // cutover in flight is the likeliest cause: database-rollback undoes it.
    const plan = await decide(
      lock({
        owner: 'arn:db',
        holder: 'arn:db',
        procedure: 'database-cutover',
        status: 'held',
        changeId: 'db-3',
      }),
    );
    expect(plan).toMatchObject({
      action: 'stop-in-flight',
      procedure: 'database-rollback',
      changeId: 'db-3',
      inFlight: { owner: 'arn:db', procedure: 'database-cutover', status: 'held' },
    });
  });

  it.each([
    [
      'a lock held for an operator',
      cutoverLock({ status: 'needs-operator' }),
      /status "needs-operator".*operator must look/,
    ],
    [
      "the cutover's own rollback running",
      cutoverLock({ holder: ROLLBACK, procedure: 'provider-rollback' }),
      /A rollback is already running: provider-rollback \(.*rb-1\)/,
    ],
    [
      'a rollback the operator started',
      lock({ owner: ROLLBACK, holder: ROLLBACK, procedure: 'provider-rollback', status: 'held' }),
      /already running/,
    ],
    [
      'another router',
      lock({ owner: 'arn:r', holder: 'arn:r', procedure: 'rollback-router', status: 'held' }),
      /already running/,
    ],
    [
      'a procedure no rollback of the router undoes',
      lock({ owner: 'arn:fr', holder: 'arn:fr', procedure: 'feature-rollout', status: 'held' }),
      /feature-rollout \(arn:fr\) holds the lock; no rollback of the router undoes it, so it is left to finish/,
    ],
    [
      'a lock without a change id',
      lock({ owner: CUTOVER, holder: CUTOVER, procedure: 'provider-cutover', status: 'held' }),
      /names no change id/,
    ],
  ])('holds for %s', async (_label, lockRead, why) => {
    const plan = await decide(lockRead);
    expect(plan.action).toBe('hold');
    expect(plan.changeId).toBeNull();
    expect(plan.why).toMatch(why);
  });

  it('nothing in flight: undoes the last completed change, by when it was opened', async () => {
    const d = depsWith(
      record('co-old', 'completed', '2025-03-01T06:00:00.000Z'),
      record('co-new', 'completed', '2025-03-01T09:30:00.000Z'),
      record('db-1', 'completed', '2025-03-01T09:50:00.000Z', 'database-cutover'),
    );
    const plan = await decide({}, d);
    expect(plan).toMatchObject({
      action: 'undo-last',
      changeId: 'co-new',
      inFlight: null,
      lastChange: {
        changeId: 'co-new',
        procedure: 'provider-cutover',
        completedAt: '2025-03-01T09:30:00.000Z',
      },
    });
  });

  it.each([
    ['no change recorded', [], /No change of provider-cutover is recorded/],
    [
      'the last change already rolled back (an older completed one is left alone)',
      [
        record('co-1', 'completed', '2025-03-01T08:00:00.000Z'),
        record('co-2', 'rolled-back', '2025-03-01T09:00:00.000Z'),
      ],
      /co-2, was already rolled back/,
    ],
    [
      'the last change still open without a lock',
      [record('co-3', 'open', '2025-03-01T09:00:00.000Z')],
      /co-3, is still open/,
    ],
    [
      'the last change too old',
      [record('co-4', 'completed', '2025-02-27T09:00:00.000Z')],
      /co-4, completed 49\.0 h ago, more than 24 h/,
    ],
  ])('holds with %s', async (_label, records, why) => {
    const plan = await decide({}, depsWith(...(records as ReturnType<typeof record>[])));
    expect(plan.action).toBe('hold');
    expect(plan.why).toMatch(why);
  });

  it('holds rather than guess when a change record does not parse', async () => {
    const d = depsWith(record('co-1', 'completed', '2025-03-01T09:00:00.000Z'));
    d.blobs.putText(recordKey(d.config.changeRecords.prefix, 'co-2'), '{"schemaVersion": 1, "changeId": ');
    const plan = await decide({}, d);
    expect(plan.action).toBe('hold');
    expect(plan.why).toMatch(/co-2\.json cannot be read.*not guessing/);
  });

  it('refuses an input without the rollback procedure, before reading anything', async () => {
    const err = await invokeStep(
      planResponse,
      { phase: 'decide', undoes: [], maxChangeAgeHours: 1, lock: {} },
      fakeDeps(),
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidInputError);
    expect((err as Error).message).toMatch(/procedure.*undoes|undoes.*procedure/s);
  });
});

describe('plan-response: confirm', () => {
  it('tells whether the stopped cutover recorded its change', async () => {
    const d = depsWith(record('co-7', 'open', '2025-03-01T09:59:00.000Z'));
    expect(await invokeStep(planResponse, { phase: 'confirm', changeId: 'co-7' }, d)).toEqual({
      recorded: true,
      status: 'open',
    });
    expect(await invokeStep(planResponse, { phase: 'confirm', changeId: 'co-8' }, d)).toEqual({
      recorded: false,
      status: null,
    });
  });
});
