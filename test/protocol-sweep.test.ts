/**
 * The fault-injection sweep over every registered procedure, with its steps replayed: the engine
 * runs each generated definition in-process with dynalite for the lock (real conditional writes),
 * SNS to the engine's outbox, nested executions and the lock janitor as on AWS, and every Lambda
 * step, ECS data task and callback task replaced by a stub returning what it returned in a real
 * run (test/fixtures/sweep/<procedure>.json, recorded from a real local world by
 * `npm run sweep -- --record test/fixtures/sweep`). Each procedure fails at each Task its clean
 * run reaches, fails once with its transient error, and fails inside its compensation; each run
 * must end with the lock free or held for an operator, never held and forgotten, and no
 * notification may claim a lock state that is not so. The flags, services and what the API serves
 * are the real-world sweep's part (`npm run sweep`).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DeleteItemCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalDynamo } from '../local/adapters/lock-table';
import { RecordingLog } from '../local/adapters/recording-log';
import { taskStates } from '../local/definitions';
import {
  type EngineOptions,
  type ExecutionRecord,
  type Fault,
  LocalEngine,
  transientErrorOf,
} from '../local/engine';
import { notificationsOf } from '../local/invariant';
import { defaultInput, REHEARSABLE } from '../local/rehearse';
import {
  compensationCases,
  compensationEntry,
  pointOfNoReturn,
  type Recording,
  recordedName,
  replaying,
  type SweepCase,
  singleFaultCases,
  tasksReached,
} from '../local/sweep';
import { PROCEDURE_NAMES } from '../procedures';

const ENVIRONMENT = 'rehearsal';
const FIXTURES = join(__dirname, 'fixtures', 'sweep');

/** Registered procedures that are not swept on their own, and why. */
const NOT_SWEPT: Readonly<Record<string, string>> = {
  'lock-janitor':
    'started by the engine when a guarded execution ends FAILED/ABORTED/TIMED_OUT: it runs inside every failing case below',
};

/**
 * Runs of today's code that break the protocol, `procedure | kind | at` -> what is observed, each
 * with the hole of issue #16 it is. THE ONE PLACE: the protocol fix empties this list, and the
 * sweep then requires every run to be consistent.
 */
const KNOWN_VIOLATIONS: Readonly<Record<string, string>> = {
  // Hole 2 (and 3): marking the lock needs-operator fails, the lock stays `held`, the janitor frees
  // it, while the hold notification says it is HELD.
  'provider-rollback | compensation | provider-rollback:RestoreFlags + provider-rollback:MarkLockNeedsOperator':
    'notification "Switchback: ACTION NEEDED - provider rollback could not verify" says the lock is HELD but it is free',
  'database-rollback | compensation | database-rollback:SwitchBack + database-rollback:MarkLockNeedsOperator':
    'notification "Switchback: ACTION NEEDED - database rollback could not verify" says the lock is HELD but it is free',
  'feature-disable | compensation | feature-disable:DisableFlag + feature-disable:MarkLockNeedsOperator':
    'notification "Switchback: ACTION NEEDED - Memory & Context disable could not verify" says the lock is HELD but it is free',
  // Hole 3: entering maintenance failed, yet the hold notification says "Maintenance mode is ON".
  'provider-rollback | compensation | provider-rollback:RestoreFlags + provider-rollback:EnterMaintenance':
    'notification "Switchback: ACTION NEEDED - provider rollback could not verify" says "Maintenance mode is ON" but EnterMaintenance failed',
  'database-rollback | compensation | database-rollback:SwitchBack + database-rollback:EnterMaintenance':
    'notification "Switchback: ACTION NEEDED - database rollback could not verify" says "Maintenance mode is ON" but EnterMaintenance failed',
  'feature-disable | compensation | feature-disable:DisableFlag + feature-disable:EnterMaintenance':
    'notification "Switchback: ACTION NEEDED - Memory & Context disable could not verify" says "Maintenance mode is ON" but EnterMaintenance failed',
  // Hole 3: when the notification of a hold fails, the held environment is announced to no one.
  'provider-rollback | compensation | provider-rollback:RestoreFlags + provider-rollback:Notify':
    'the lock is held for an operator but no notification says so (none sent)',
  'database-rollback | compensation | database-rollback:SwitchBack + database-rollback:Notify':
    'the lock is held for an operator but no notification says so (none sent)',
  'feature-disable | compensation | feature-disable:DisableFlag + feature-disable:Notify':
    'the lock is held for an operator but no notification says so (none sent)',
};

const recordingFile = (procedure: string) => join(FIXTURES, `${procedure}.json`);
const SWEPT = PROCEDURE_NAMES.filter((p) => !(p in NOT_SWEPT));
const load = (procedure: string) => JSON.parse(readFileSync(recordingFile(procedure), 'utf8')) as Recording;
/** Every recording: where a step a procedure never ran in its own recording is replayed from. */
const DONORS = SWEPT.filter((p) => existsSync(recordingFile(p))).map(load);

let dynamo: LocalDynamo;
let tableCreated = false;
beforeAll(async () => {
  dynamo = await LocalDynamo.start();
});
afterAll(async () => {
  await dynamo?.close();
});

interface Run {
  readonly execution: ExecutionRecord;
  readonly engine: LocalEngine;
  readonly lock: Record<string, string> | undefined;
  readonly unrecorded: readonly string[];
}

/** One replayed run on a lock table of its own. */
async function replay(
  recording: Recording,
  faults: readonly Fault[],
  extra: Pick<EngineOptions, 'onTaskResult'> = {},
): Promise<Run> {
  // One table, emptied for each run: the definitions (and their validated machines) stay the same.
  const lockTable = `switchback-${ENVIRONMENT}-locks`;
  if (!tableCreated) await dynamo.createLockTable(lockTable);
  tableCreated = true;
  const { Items = [] } = await dynamo.client.send(new ScanCommand({ TableName: lockTable }));
  for (const item of Items)
    await dynamo.client.send(new DeleteItemCommand({ TableName: lockTable, Key: { pk: item.pk as never } }));
  const stubs = replaying(recording, ENVIRONMENT, DONORS);
  const engine = new LocalEngine({
    environment: ENVIRONMENT,
    // Every step is replayed: no step dependency is ever used.
    deps: {} as never,
    logs: new RecordingLog(),
    dynamo,
    lockTable,
    faults,
    waitOverrideMs: 0,
    retryIntervalMs: 0,
    integrations: [stubs.integration],
    ...extra,
    substitutions: {
      DataTaskClusterArn: `arn:aws:ecs:local-1:000000000000:cluster/local-${ENVIRONMENT}`,
      DataTaskDefinitionArn: `arn:aws:ecs:local-1:000000000000:task-definition/switchback-${ENVIRONMENT}-data-task:1`,
    },
  });
  const execution = await engine.run(recording.procedure, defaultInput(ENVIRONMENT, recording.procedure), {
    name: recording.execution,
  });
  return {
    execution,
    engine,
    lock: await dynamo.getLock(lockTable, ENVIRONMENT),
    unrecorded: stubs.unrecorded,
  };
}

/** The protocol part of the end-state invariant, as observed; empty when the run is consistent. */
function protocolViolations(run: Run): string[] {
  const { execution, lock } = run;
  const out: string[] = [];
  const lockText = lock ? `held by ${lock.owner} (status ${lock.status})` : 'free';
  if (execution.status !== 'SUCCEEDED' && execution.status !== 'FAILED')
    out.push(`execution ended ${execution.status}`);
  if (lock && lock.status !== 'needs-operator')
    out.push(
      `execution ${execution.status}${execution.error ? ` (${execution.error})` : ''} left the lock ${lockText}`,
    );
  if (execution.status === 'SUCCEEDED' && lock) out.push(`execution SUCCEEDED with the lock ${lockText}`);
  const notices = notificationsOf(run.engine, execution);
  for (const n of notices) {
    if (/Lock released/i.test(n.message) && lock)
      out.push(`notification "${n.subject}" says "Lock released" but the lock is ${lockText}`);
    if (/lock is HELD/i.test(n.message) && !lock)
      out.push(`notification "${n.subject}" says the lock is HELD but it is free`);
  }
  const maintenanceFailed = treeOf(run).some((e) =>
    e.steps.some((st) => st.state === 'EnterMaintenance' && st.error !== undefined),
  );
  for (const n of notices) {
    if (maintenanceFailed && /Maintenance mode is ON/i.test(n.message))
      out.push(`notification "${n.subject}" says "Maintenance mode is ON" but EnterMaintenance failed`);
  }
  if (lock?.status === 'needs-operator' && !notices.some((n) => /HELD/.test(n.message)))
    out.push(
      `the lock is held for an operator but no notification says so (${notices.map((n) => n.attributes.outcome).join(', ') || 'none sent'})`,
    );
  if (run.unrecorded.length) out.push(`replayed a step with no recording: ${run.unrecorded.join(', ')}`);
  return out;
}

/** The execution and its nested executions, any depth. */
function treeOf(run: Run): ExecutionRecord[] {
  const out = [run.execution];
  for (const e of run.engine.executions)
    if (e.parentArn && out.some((x) => x.arn === e.parentArn)) out.push(e);
  return out;
}

const caseKey = (procedure: string, c: SweepCase) => `${procedure} | ${c.kind} | ${c.at}`;

describe('injected faults (steps replayed)', () => {
  const cutover = () => load('provider-cutover');
  const stateDef = (procedure: string, state: string) =>
    taskStates(
      JSON.parse(readFileSync(join(__dirname, '..', 'statemachines', `${procedure}.asl.json`), 'utf8')),
    ).find((t) => t.name === state)?.definition as Record<string, unknown>;

  it("a once-only fault throws the state's first retried error once; Retry absorbs it and the run goes forward", async () => {
    const run = await replay(cutover(), [
      { procedure: 'provider-cutover', state: 'SwitchToHttp', kind: 'once' },
    ]);
    expect(run.engine.injected.map((i) => i.error)).toEqual(['Lambda.ServiceException']);
    expect(run.execution.steps.find((s) => s.state === 'SwitchToHttp')?.retries).toBe(1);
    expect(run.execution.status).toBe('SUCCEEDED');
    expect(run.lock).toBeUndefined();
  });

  it('a once-only fault on a DynamoDB task throws the DynamoDB transient error its Retry names first', async () => {
    const run = await replay(cutover(), [
      { procedure: 'provider-cutover', state: 'AcquireLock', kind: 'once' },
    ]);
    const expected = transientErrorOf(stateDef('provider-cutover', 'AcquireLock'));
    expect(expected).toMatch(/^DynamoDB\./);
    expect(run.engine.injected.map((i) => i.error)).toEqual([expected]);
    expect(run.execution.status).toBe('SUCCEEDED');
  });

  it('a fault after the task runs the task (its result is produced) and then fails the state', async () => {
    const ran: string[] = [];
    const run = await replay(
      cutover(),
      [{ procedure: 'provider-cutover', state: 'SwitchToHttp', kind: 'after' }],
      {
        onTaskResult: (e, state) => {
          if (e.procedure === 'provider-cutover') ran.push(state);
        },
      },
    );
    expect(ran).toContain('SwitchToHttp');
    const step = run.execution.steps.find((s) => s.state === 'SwitchToHttp');
    expect(step).toMatchObject({ outcome: 'caught', error: 'InjectedFailureError' });
    expect(run.execution.steps.map((s) => s.state)).toContain('RollBack');
  });

  it('a fault qualified by its parent fires only in the nested execution: a second fault inside the compensation', async () => {
    const inside: Fault = {
      procedure: 'provider-rollback',
      state: 'RestoreFlags',
      parent: 'provider-cutover',
    };
    const alone = await replay(load('provider-rollback'), [inside]);
    expect(alone.engine.injected).toEqual([]);
    expect(alone.execution.status).toBe('SUCCEEDED');

    const run = await replay(cutover(), [
      { procedure: 'provider-cutover', state: 'SwitchToHttp', kind: 'after' },
      inside,
    ]);
    const child = run.engine.executions.find((e) => e.procedure === 'provider-rollback');
    expect(run.engine.injected.map((i) => [i.fault.state, i.executionArn])).toEqual([
      ['SwitchToHttp', run.execution.arn],
      ['RestoreFlags', child?.arn],
    ]);
    expect(child?.status).toBe('FAILED');
    expect(run.execution.status).toBe('FAILED');
    expect(run.lock?.status).toBe('needs-operator');
  });
});

describe('the stubbed sweep covers every registered procedure', () => {
  it('every procedure in procedures/index.ts has a recording to replay, or a reason it is not swept', () => {
    const missing = SWEPT.filter((p) => !existsSync(recordingFile(p)));
    expect(
      missing.map((p) => `${p}: no ${recordingFile(p)} (npm run sweep -- --record test/fixtures/sweep)`),
    ).toEqual([]);
    expect(
      SWEPT.filter((p) => !REHEARSABLE.includes(p)).map((p) => `${p}: no local setup in local/rehearse.ts`),
    ).toEqual([]);
  });

  it.each(SWEPT.filter((p) => existsSync(recordingFile(p))))(
    '%s: the recording is of the current definition (every recorded state is one of its Task states) and carries no secret',
    (procedure) => {
      const text = readFileSync(recordingFile(procedure), 'utf8');
      const recording = JSON.parse(text) as Recording;
      const stale = Object.keys(recording.results).filter((key) => {
        const [, at] = key.split('>') as [string, string];
        const [p, state] = at.split(':') as [string, string];
        const tasks = taskStates(
          JSON.parse(readFileSync(join(__dirname, '..', 'statemachines', `${p}.asl.json`), 'utf8')),
        );
        return !tasks.some((t) => t.name === state);
      });
      expect(stale).toEqual([]);
      expect(text).not.toMatch(/sk-rehearsal-|password=|:\/\/[^/\s"]+:[^@/\s"]+@/);
    },
  );
});

describe.each(SWEPT.filter((p) => existsSync(recordingFile(p))))('%s, steps replayed', (procedure) => {
  const recording = load(procedure);
  let reached: Fault[] = [];
  const known = (cases: SweepCase[]) =>
    Object.fromEntries(
      cases
        .map((c) => caseKey(procedure, c))
        .flatMap((k) => (k in KNOWN_VIOLATIONS ? [[k, KNOWN_VIOLATIONS[k]]] : [])),
    );

  async function sweep(cases: SweepCase[]) {
    const seen: Record<string, string> = {};
    for (const c of cases) {
      const run = await replay(recording, c.faults);
      const v = protocolViolations(run);
      if (v.length) seen[caseKey(procedure, c)] = v.join('; ');
    }
    return seen;
  }

  it('the clean replay takes the recorded path and ends SUCCEEDED with the lock free', async () => {
    expect(recording.execution).toBe(recordedName(procedure));
    const run = await replay(recording, []);
    expect(protocolViolations(run)).toEqual([]);
    expect(run.execution.status).toBe('SUCCEEDED');
    expect(run.lock).toBeUndefined();
    reached = tasksReached(run.engine, run.execution);
    expect(reached.filter((f) => f.procedure === procedure && !f.parent).length).toBeGreaterThan(0);
  });

  it('a failure at each Task it reaches ends with the lock free or held for an operator, and notices that say which', async () => {
    const cases = singleFaultCases(procedure, reached, ['fail']);
    expect(cases.length).toBeGreaterThan(0);
    expect(await sweep(cases)).toEqual(known(cases));
  });

  it('a once-only transient fault at each Task it reaches is absorbed by Retry or ends as a failure would', async () => {
    const cases = singleFaultCases(procedure, reached, ['once']);
    expect(cases.length).toBeGreaterThan(0);
    expect(await sweep(cases)).toEqual(known(cases));
  });

  it('a second fault inside the compensation holds for an operator or still ends consistent', async () => {
    const first = pointOfNoReturn(procedure, reached);
    if (!first) {
      // Nothing to compensate: the procedure has no point of no return in procedures/index.ts.
      expect(recording.runs.length).toBe(1);
      return;
    }
    const entry = await replay(recording, [first]);
    const cases = [
      compensationEntry(first),
      ...compensationCases(first, tasksReached(entry.engine, entry.execution, first.state)),
    ];
    expect(cases.length).toBeGreaterThan(1);
    expect(await sweep(cases)).toEqual(known(cases));
  });
});
