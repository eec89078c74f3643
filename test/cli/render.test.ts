import type { HistoryEvent } from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { palette } from '../../cli/palette';
import { fromHistory, renderEvent } from '../../cli/render';
import type { ExecutionRecord } from '../../local/engine';
import { stepEventOf } from '../../local/rehearse';
import { awsHistoryOf } from '../support/history';
import { startWorld } from '../support/world';

const plain = palette(false);
const lines = (events: ReturnType<typeof fromHistory>, c = plain) =>
  events.map((e) => renderEvent(e, c, { durations: false })).filter((l): l is string => l !== undefined);

const t = (s: number) => new Date(Date.UTC(2026, 11, 1, 10, 0, s));
const gate = (evaluation: number, verdict: string, decision: string, errorRate: number) =>
  JSON.stringify({
    request: { phaseCount: 4 },
    gate: {
      evaluation,
      consecutiveFailures: verdict === 'fail' ? evaluation : 0,
      verdict,
      decision,
      phaseComplete: false,
      summary: `${verdict}`,
      signals: [
        { signal: 'errorRatePercent', value: errorRate, limit: 0.1, status: verdict },
        { signal: 'p95LatencyMs', value: 180, limit: 500, status: 'pass' },
      ],
    },
  });

/** One HistoryEvent as the API reference documents it: id, previousEventId, timestamp, type, details. */
const ev = (id: number, second: number, type: HistoryEvent['type'], details: Partial<HistoryEvent>) =>
  ({ id, previousEventId: id - 1, timestamp: t(second), type, ...details }) as HistoryEvent;
const lambda = { resourceType: 'lambda', resource: 'invoke' };
const scheduled = { taskScheduledEventDetails: { ...lambda, region: 'eu-west-1', parameters: '{}' } };
const entered = (name: string) => ({ stateEnteredEventDetails: { name, input: '{}' } });
const exited = (name: string, output = '{}') => ({ stateExitedEventDetails: { name, output } });

/** A feature rollout's history as GetExecutionHistory returns it: a retried, then a failing gate, the rollback. */
const RECORDED: HistoryEvent[] = [
  ev(1, 0, 'ExecutionStarted', {
    executionStartedEventDetails: {
      input: '{"reason":"roll out"}',
      roleArn: 'arn:aws:iam::123456789012:role/r',
    },
  }),
  ev(2, 1, 'TaskStateEntered', entered('EvaluateGate')),
  ev(3, 1, 'TaskScheduled', scheduled),
  ev(4, 2, 'TaskFailed', {
    taskFailedEventDetails: { ...lambda, error: 'Lambda.TooManyRequestsException', cause: 'Rate exceeded' },
  }),
  ev(5, 4, 'TaskScheduled', scheduled),
  ev(6, 5, 'TaskSucceeded', { taskSucceededEventDetails: { ...lambda, output: '{}' } }),
  ev(7, 5, 'TaskStateExited', exited('EvaluateGate', gate(1, 'pass', 'continue', 0.02))),
  ev(8, 6, 'TaskStateEntered', entered('EvaluateGate')),
  ev(9, 8, 'TaskStateExited', exited('EvaluateGate', gate(3, 'fail', 'roll-back', 5))),
  ev(10, 9, 'TaskStateEntered', entered('RollBack')),
  ev(11, 12, 'TaskStateExited', exited('RollBack')),
  ev(12, 13, 'FailStateEntered', entered('RolloutRolledBack')),
  ev(13, 13, 'ExecutionFailed', {
    executionFailedEventDetails: { error: 'RolloutRolledBackError', cause: 'rolled back' },
  }),
];

describe('the renderer on a recorded AWS history', () => {
  it('says what each gate found, marks the failing one, shows the retry and the end', () => {
    const events = fromHistory(RECORDED, { procedure: 'feature-rollout', execution: 'fr-1' });
    expect(lines(events)).toEqual([
      'feature-rollout fr-1',
      '  ~ EvaluateGate                       retry after Lambda.TooManyRequestsException',
      '  + EvaluateGate                         gate pass (evaluation 1, 0 failed in a row) -> continue: errorRatePercent 0.02 (limit 0.1), p95LatencyMs 180 (limit 500)',
      '  ! EvaluateGate                         gate fail (evaluation 3, 3 failed in a row) -> roll-back: errorRatePercent 5 (limit 0.1) FAIL, p95LatencyMs 180 (limit 500)',
      '  + RollBack',
      '  x RolloutRolledBack  RolloutRolledBackError',
    ]);
    expect(events.at(-1)).toMatchObject({ kind: 'ended', status: 'FAILED', error: 'RolloutRolledBackError' });
    // In colour, the failing gate is red.
    const coloured = lines(events, palette(true));
    expect(coloured[3]).toContain('\u001b[31mgate fail');
    expect(coloured[2]).not.toContain('\u001b[31m');
  });
});

describe('the same lines from a local execution and from its AWS history', () => {
  let world: Awaited<ReturnType<typeof startWorld>>;
  let cutover: ExecutionRecord;
  beforeAll(async () => {
    world = await startWorld({
      faults: [{ procedure: 'provider-cutover', state: 'VerifyMemoryThroughApi' }],
    });
    cutover = await world.engine.run('provider-cutover', { reason: 'render me' });
  });
  afterAll(async () => world?.dispose());

  it('provider-cutover failing at VerifyMemoryThroughApi, rolled back', () => {
    expect(cutover.error).toBe('CutoverRolledBackError');
    const local = lines(cutover.events.map((e) => stepEventOf(cutover, e, 0)).filter((e) => e !== undefined));
    const aws = lines(
      fromHistory(awsHistoryOf(cutover), { procedure: 'provider-cutover', execution: cutover.name }),
    );
    expect(aws).toEqual(local);
    expect(local).toContain(`  x ${'VerifyMemoryThroughApi'.padEnd(34)}   InjectedFailureError -> caught`);
    expect(local.some((l) => /^ {2}\+ VerifyApiProvider +api ok, provider http/.test(l))).toBe(true);
    expect(
      local.some((l) =>
        /^ {2}\+ RecordChange +change provider-cutover-.*: was memory\/provider=native/.test(l),
      ),
    ).toBe(true);
    expect(local.at(-1)).toBe('  x CutoverRolledBack  CutoverRolledBackError');
  });
});
