import { describe, expect, it } from 'vitest';
import { changeRecord, type RollbackPlan } from '../../functions/change-record/change-record';
import { type ChangeRecord, recordKey } from '../../functions/change-record/record';
import {
  ChangeRecordInvalidError,
  ChangeRecordNotFoundError,
  FlagDriftError,
  InvalidInputError,
} from '../../functions/shared/errors';
import { invokeStep } from '../../functions/shared/step';
import {
  deployment,
  type FakeDeps,
  fakeDeps,
  ScriptedServiceController,
  serviceState,
} from '../support/fakes';

const PREFIX = 'change-records/test';
const TASK_DEF_7 = 'arn:aws:ecs:eu-west-1:123456789012:task-definition/api:7';
const EXEC = 'arn:aws:states:eu-west-1:123456789012:execution:provider-cutover:co-1';

function openInput(changeId = 'co-1') {
  return {
    action: 'open',
    changeId,
    procedure: 'provider-cutover',
    executionId: EXEC,
    reason: 'move to mem0',
    requestedBy: 'alice',
    target: [
      { name: 'memory/provider', value: 'http' },
      { name: 'memory/http-base', value: 'https://mem0.internal:7070' },
    ],
  };
}

async function openAt(deps: FakeDeps, changeId: string, at: string, procedure = 'provider-cutover') {
  deps.clock.set(at);
  return runStep({ ...openInput(changeId), procedure }, deps);
}

interface Summary {
  changeId: string;
  status: string;
  previous: Record<string, string>;
  taskDefinition: string;
}
/** Every field any action returns: each test reads the ones of the action it ran. */
type Output = Summary & RollbackPlan & { drift: boolean; checked: string[] };

async function runStep(input: unknown, deps: FakeDeps): Promise<Output> {
  return (await invokeStep(changeRecord, input, deps)) as Output;
}

function stored(deps: FakeDeps, changeId: string): ChangeRecord {
  return deps.blobs.json(recordKey(PREFIX, changeId)) as ChangeRecord;
}

async function rejection(input: unknown, deps: FakeDeps): Promise<Error> {
  return runStep(input, deps).then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e as Error,
  );
}

describe('change-record open', () => {
  it('records the previous values and versions, maintenance mode and the API task definition', async () => {
    const deps = fakeDeps();
    deps.flags.set('memory/provider', 'native'); // version 2
    const summary = await runStep(openInput(), deps);

    expect(summary).toEqual({
      changeId: 'co-1',
      status: 'open',
      previous: {
        'memory/provider': 'native',
        'memory/http-base': 'http://sidecar.internal:7070',
        'maintenance-mode': 'off',
      },
      taskDefinition: TASK_DEF_7,
      backups: [],
    });
    const record = stored(deps, 'co-1');
    expect(record).toEqual({
      schemaVersion: 1,
      changeId: 'co-1',
      environment: 'test',
      procedure: 'provider-cutover',
      executionId: EXEC,
      reason: 'move to mem0',
      requestedBy: 'alice',
      openedAt: '2025-03-01T10:00:00.000Z',
      previous: {
        'memory/provider': { value: 'native', version: 2 },
        'memory/http-base': { value: 'http://sidecar.internal:7070', version: 1 },
        'maintenance-mode': { value: 'off', version: 1 },
      },
      target: { 'memory/provider': 'http', 'memory/http-base': 'https://mem0.internal:7070' },
      services: { api: { taskDefinition: TASK_DEF_7 } },
      backups: [],
      status: 'open',
      events: [{ at: '2025-03-01T10:00:00.000Z', status: 'open', executionId: EXEC }],
    });
    expect(deps.blobs.contentTypes.get(recordKey(PREFIX, 'co-1'))).toBe('application/json');
    expect(deps.flags.puts).toEqual([]);
  });

  it('opened twice, returns the first record unchanged even though the flags changed in between', async () => {
    const deps = fakeDeps();
    await runStep(openInput(), deps);
    const before = deps.blobs.text(recordKey(PREFIX, 'co-1'));

    await deps.flags.put('memory/provider', 'http'); // the cutover got this far, then Lambda retried
    deps.clock.set('2025-03-01T10:05:00.000Z');
    const again = await runStep(openInput(), deps);

    expect(again.previous['memory/provider']).toBe('native');
    expect(deps.blobs.text(recordKey(PREFIX, 'co-1'))).toBe(before);
  });

  it('refuses to open a change without targets or with an unknown flag', async () => {
    const deps = fakeDeps();
    const noTarget = await rejection({ ...openInput(), target: [] }, deps);
    const unknown = await rejection({ ...openInput(), target: [{ name: 'memory/x', value: 'y' }] }, deps);
    expect(noTarget).toBeInstanceOf(InvalidInputError);
    expect(unknown).toBeInstanceOf(InvalidInputError);
    expect(unknown.message).toContain('target.0.name');
    expect(deps.blobs.objects.size).toBe(0);
  });
});

describe('change-record plan', () => {
  it('restores every previous value, maintenance mode included, and the recorded task definition', async () => {
    const deps = fakeDeps();
    await runStep(openInput(), deps);
    // Since then: the cutover ran, maintenance was switched on, the API rolled to a new revision.
    await deps.flags.put('memory/provider', 'http');
    await deps.flags.put('maintenance-mode', 'on');

    const plan = await runStep({ action: 'plan', changeId: 'co-1', procedure: 'provider-cutover' }, deps);
    expect(plan).toEqual({
      changeId: 'co-1',
      source: 'change-record',
      restore: expect.arrayContaining([
        { name: 'memory/provider', value: 'native' },
        { name: 'memory/http-base', value: 'http://sidecar.internal:7070' },
        { name: 'maintenance-mode', value: 'off' },
      ]),
      taskDefinition: TASK_DEF_7,
      expectProvider: 'native',
    });
    expect(plan.restore).toHaveLength(3);
  });

  it('without any change record, plans the safe default: native, no task definition', async () => {
    const deps = fakeDeps();
    const plan = await runStep({ action: 'plan', changeId: null, procedure: 'provider-cutover' }, deps);
    expect(plan).toEqual({
      changeId: null,
      source: 'defaults',
      restore: [{ name: 'memory/provider', value: 'native' }],
      taskDefinition: null,
      expectProvider: 'native',
    });
    expect(deps.log.lines.map((l) => `${l.level} ${l.message}`)).toContain(
      'warn no change record found; rolling back to defaults',
    );
  });

  it('without a change id, picks the newest provider-cutover record by openedAt', async () => {
    const deps = fakeDeps();
    await openAt(deps, 'co-b-newest', '2025-03-03T09:00:00.000Z');
    await openAt(deps, 'co-a-older', '2025-03-01T09:00:00.000Z');
    await openAt(deps, 'other-procedure', '2025-03-09T09:00:00.000Z', 'db-migration');
    const plan = await runStep({ action: 'plan', changeId: null, procedure: 'provider-cutover' }, deps);
    expect(plan.changeId).toBe('co-b-newest');
  });

  it('compares openedAt as instants, not as strings of different precision', async () => {
    const deps = fakeDeps();
    await openAt(deps, 'x', '2025-03-01T10:00:00.000Z');
    const record = stored(deps, 'x');
    deps.blobs.objects.clear();
    deps.blobs.putText(
      recordKey(PREFIX, 'whole-second'),
      JSON.stringify({ ...record, changeId: 'whole-second', openedAt: '2025-03-01T10:00:00Z' }),
    );
    deps.blobs.putText(
      recordKey(PREFIX, 'half-second-later'),
      JSON.stringify({ ...record, changeId: 'half-second-later', openedAt: '2025-03-01T10:00:00.5Z' }),
    );
    const plan = await runStep({ action: 'plan', changeId: null, procedure: 'provider-cutover' }, deps);
    expect(plan.changeId).toBe('half-second-later');
  });

  it('refuses an unknown change id rather than guessing', async () => {
    const deps = fakeDeps();
    await runStep(openInput('co-1'), deps);
    const err = await rejection({ action: 'plan', changeId: 'co-2', procedure: 'provider-cutover' }, deps);
    expect(err).toBeInstanceOf(ChangeRecordNotFoundError);
    expect(err.name).toBe('ChangeRecordNotFoundError');
    expect(err.message).toContain('co-2');
  });

  it('refuses a record that is not JSON', async () => {
    const deps = fakeDeps();
    deps.blobs.putText(recordKey(PREFIX, 'co-1'), '{"schemaVersion": 1, "changeId": ');
    const err = await rejection({ action: 'plan', changeId: 'co-1', procedure: 'provider-cutover' }, deps);
    expect(err).toBeInstanceOf(ChangeRecordInvalidError);
    expect(err.message).toContain('not valid JSON');
  });

  it('refuses a record that does not match the schema, naming the field', async () => {
    const deps = fakeDeps();
    await runStep(openInput('co-1'), deps);
    const record = stored(deps, 'co-1');
    deps.blobs.putText(
      recordKey(PREFIX, 'co-1'),
      JSON.stringify({ ...record, previous: { 'memory/provider': { value: 'native' } } }),
    );
    const err = await rejection({ action: 'plan', changeId: 'co-1', procedure: 'provider-cutover' }, deps);
    expect(err).toBeInstanceOf(ChangeRecordInvalidError);
    expect(err.message).toContain('previous.memory/provider.version');
  });

  it('refuses to pick the latest record when one of them is corrupt', async () => {
    const deps = fakeDeps();
    await openAt(deps, 'co-1', '2025-03-01T10:00:00.000Z');
    deps.blobs.putText(recordKey(PREFIX, 'co-2'), 'not json');
    const err = await rejection({ action: 'plan', changeId: null, procedure: 'provider-cutover' }, deps);
    expect(err).toBeInstanceOf(ChangeRecordInvalidError);
  });
});

describe('change-record check-drift', () => {
  async function opened() {
    const deps = fakeDeps();
    await runStep(openInput(), deps);
    return deps;
  }

  it('passes when the flags still hold the values the change set', async () => {
    const deps = await opened();
    await deps.flags.put('memory/provider', 'http');
    await deps.flags.put('memory/http-base', 'https://mem0.internal:7070');
    const result = await runStep({ action: 'check-drift', changeId: 'co-1' }, deps);
    expect(result).toEqual({
      drift: false,
      checked: ['memory/provider', 'memory/http-base', 'api task definition'],
    });
  });

  it('throws FlagDriftError when the API runs another task definition than the change recorded (a later deploy)', async () => {
    const deps = await opened();
    await deps.flags.put('memory/provider', 'http');
    const before = (await deps.services.describe('api')).taskDefinition;
    await deps.services.redeploy('api', 'arn:aws:ecs:eu-west-1:123456789012:task-definition/memory-api:9');
    const err = await rejection({ action: 'check-drift', changeId: 'co-1' }, deps);
    expect(err).toBeInstanceOf(FlagDriftError);
    expect(err.message).toContain(
      `the API runs arn:aws:ecs:eu-west-1:123456789012:task-definition/memory-api:9, not ${before}`,
    );
    expect(err.message).toContain('code-rollback undoes it instead');
  });

  it('passes when the flags hold the values from before the change (it failed half-way)', async () => {
    const deps = await opened();
    await deps.flags.put('memory/provider', 'http');
    const result = await runStep({ action: 'check-drift', changeId: 'co-1' }, deps);
    expect(result).toMatchObject({ drift: false });
  });

  it('throws FlagDriftError naming the flag someone else changed', async () => {
    const deps = await opened();
    await deps.flags.put('memory/provider', 'http');
    await deps.flags.put('memory/http-base', 'https://someone-else.internal');
    const err = await rejection({ action: 'check-drift', changeId: 'co-1' }, deps);
    expect(err).toBeInstanceOf(FlagDriftError);
    expect(err.name).toBe('FlagDriftError');
    expect(err.message).toContain('memory/http-base is "https://someone-else.internal"');
    expect(err.message).not.toContain('memory/provider is');
  });

  it('ignores maintenance mode, which the automation itself switches on', async () => {
    const deps = fakeDeps();
    await runStep(
      { ...openInput(), target: [...openInput().target, { name: 'maintenance-mode', value: 'off' }] },
      deps,
    );
    await deps.flags.put('maintenance-mode', 'on');
    const result = await runStep({ action: 'check-drift', changeId: 'co-1' }, deps);
    expect(result.checked).not.toContain('maintenance-mode');
    expect(result.drift).toBe(false);
  });

  it('has nothing to compare without a change record', async () => {
    const deps = fakeDeps();
    const result = await runStep({ action: 'check-drift', changeId: null }, deps);
    expect(result).toEqual({ drift: false, checked: [] });
  });

  it('refuses an unknown change id', async () => {
    const deps = await opened();
    const err = await rejection({ action: 'check-drift', changeId: 'co-9' }, deps);
    expect(err).toBeInstanceOf(ChangeRecordNotFoundError);
  });
});

describe('change-record close', () => {
  const closeInput = (status: string) => ({
    action: 'close',
    changeId: 'co-1',
    status,
    executionId: 'arn:aws:states:eu-west-1:123456789012:execution:provider-rollback:rb-1',
  });

  it('sets the status and appends an event', async () => {
    const deps = fakeDeps();
    await runStep(openInput(), deps);
    deps.clock.set('2025-03-01T10:30:00.000Z');
    const summary = await runStep(closeInput('rolled-back'), deps);
    expect(summary.status).toBe('rolled-back');
    const record = stored(deps, 'co-1');
    expect(record.status).toBe('rolled-back');
    expect(record.events).toEqual([
      { at: '2025-03-01T10:00:00.000Z', status: 'open', executionId: EXEC },
      {
        at: '2025-03-01T10:30:00.000Z',
        status: 'rolled-back',
        executionId: 'arn:aws:states:eu-west-1:123456789012:execution:provider-rollback:rb-1',
      },
    ]);
  });

  it('is idempotent: closing again with the same status changes nothing', async () => {
    const deps = fakeDeps();
    await runStep(openInput(), deps);
    await runStep(closeInput('completed'), deps);
    const once = deps.blobs.text(recordKey(PREFIX, 'co-1'));
    deps.clock.set('2025-03-02T00:00:00.000Z');
    await runStep(closeInput('completed'), deps);
    expect(deps.blobs.text(recordKey(PREFIX, 'co-1'))).toBe(once);
    expect(stored(deps, 'co-1').events).toHaveLength(2);
  });

  it('refuses to close a change that was never opened', async () => {
    const deps = fakeDeps();
    const err = await rejection(closeInput('completed'), deps);
    expect(err).toBeInstanceOf(ChangeRecordNotFoundError);
    expect(deps.blobs.objects.size).toBe(0);
  });

  it('refuses an unknown status', async () => {
    const deps = fakeDeps();
    await runStep(openInput(), deps);
    const err = await rejection(closeInput('abandoned'), deps);
    expect(err).toBeInstanceOf(InvalidInputError);
    expect(stored(deps, 'co-1').status).toBe('open');
  });
});

describe('change-record: the API task definition comes from ECS', () => {
  it('records the task definition ECS reports at open time', async () => {
    const td = 'arn:aws:ecs:eu-west-1:123456789012:task-definition/api:12';
    const deps = fakeDeps({
      services: new ScriptedServiceController({ api: serviceState([deployment({ taskDefinition: td })]) }),
    });
    const summary = await runStep(openInput(), deps);
    expect(summary.taskDefinition).toBe(td);
    expect(deps.services.describes).toEqual(['api']);
  });
});
