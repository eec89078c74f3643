import { describe, expect, it } from 'vitest';
import { type JournalChange, type JournalEntry, newEntry } from '../../functions/shared/journal';
import {
  type AlarmHistory,
  alarmIntervals,
  lastKnownGood,
  statesOf,
} from '../../functions/shared/last-known-good';

const TD = (n: number) => `arn:aws:ecs:eu-west-1:111122223333:task-definition/memory-api:${n}`;
const NOW = new Date('2025-03-01T12:00:00.000Z');
const OPTIONS = { bakeMinutes: 30, now: NOW };
const QUIET: AlarmHistory = { coversSince: '2025-02-28T00:00:00.000Z', intervals: [] };

function entry(at: string, id: string, change: JournalChange): JournalEntry {
  const deployment = change.type === 'deployment';
  return newEntry({
    environment: 'test',
    at,
    source: deployment ? 'aws.ecs' : 'aws.ssm',
    sourceEventId: id,
    kind: deployment ? 'code' : 'config',
    subject: deployment ? 'service:api' : `parameter:${change.type === 'parameter' ? change.key : ''}`,
    actor: null,
    change,
    now: NOW,
    retentionDays: 90,
  });
}

function deploy(
  at: string,
  id: string,
  from: number,
  to: number,
  state: 'IN_PROGRESS' | 'COMPLETED' | 'FAILED' = 'IN_PROGRESS',
  deploymentId = `ecs-svc/${to}`,
) {
  return entry(at, id, {
    type: 'deployment',
    service: 'api',
    serviceName: 'memory-api',
    deploymentId,
    serviceDeploymentArn: null,
    state,
    rollback: false,
    from: TD(from),
    to: TD(to),
  });
}

function setParam(at: string, id: string, from: [number, string | null], to: [number, string | null]) {
  return entry(at, id, {
    type: 'parameter',
    key: 'mcp/AUTONOMOUS_MODE',
    name: '/memory/test/mcp/AUTONOMOUS_MODE',
    operation: 'Update',
    parameterType: from[1] === null ? 'SecureString' : 'String',
    fromVersion: from[0],
    toVersion: to[0],
    fromValue: from[1],
    toValue: to[1],
    invalid: null,
  });
}

const alarmed = (from: string, to: string | null): AlarmHistory => ({
  ...QUIET,
  intervals: [{ alarm: 'switchback-test-s004-error-rate', from, to }],
});

describe('last known good', () => {
  it('is the newest state that baked 30 minutes with no rollback alarm: a CI deploy alarmed during its bake is not', () => {
    const entries = [
      deploy('2025-03-01T09:00:00.000Z', 'a', 1, 2),
      deploy('2025-03-01T09:05:00.000Z', 'b', 1, 2, 'COMPLETED'),
      deploy('2025-03-01T11:40:00.000Z', 'c', 2, 3),
    ];
    const history = { ...alarmed('2025-03-01T11:50:00.000Z', null), coversSince: '2025-03-01T08:45:00.000Z' };
    const out = lastKnownGood('service:api', entries, history, OPTIONS);
    expect(out.known).toBe(true);
    if (!out.known) return;
    expect(out.lkg.state).toEqual({ type: 'service', taskDefinition: TD(2) });
    expect(out.lkg.since).toBe('2025-03-01T09:00:00.000Z');
    expect(out.since).toEqual([entries[2]?.entryId]);
    expect(out.verdicts.map((v) => [v.span.state, v.good, v.reason])).toEqual([
      [{ type: 'service', taskDefinition: TD(1) }, false, expect.stringMatching(/does not cover/)],
      [
        { type: 'service', taskDefinition: TD(2) },
        true,
        'stayed in service 30 minutes with no rollback alarm in ALARM',
      ],
      [
        { type: 'service', taskDefinition: TD(3) },
        false,
        'switchback-test-s004-error-rate went to ALARM during its 30 minute bake',
      ],
    ]);
  });

  it('a change alarmed during its bake is never known good, however quiet afterwards', () => {
    const entries = [deploy('2025-03-01T09:00:00.000Z', 'a', 1, 2)];
    // The alarm fired 10 minutes in and cleared; three quiet hours followed.
    const out = lastKnownGood(
      'service:api',
      entries,
      alarmed('2025-03-01T09:10:00.000Z', '2025-03-01T09:12:00.000Z'),
      OPTIONS,
    );
    expect(out.verdicts[1]).toMatchObject({
      good: false,
      reason: expect.stringMatching(/during its 30 minute bake/),
    });
    // The known good state is the one before it, never the alarmed one.
    expect(out).toMatchObject({ known: true, lkg: { state: { taskDefinition: TD(1) }, since: null } });
    expect(out.since).toEqual([entries[0]?.entryId]);
  });

  it('nothing known good -> says so, never guesses: no journal, a too-short bake, a failed deployment', () => {
    const none = lastKnownGood('service:api', [], QUIET, OPTIONS);
    expect(none).toMatchObject({ known: false, reason: 'the journal has no change of service:api' });

    const young = lastKnownGood(
      'service:api',
      [deploy('2025-03-01T11:50:00.000Z', 'a', 1, 2)],
      alarmed('2025-03-01T11:40:00.000Z', '2025-03-01T11:45:00.000Z'),
      OPTIONS,
    );
    expect(young.known).toBe(false);
    if (young.known) return;
    expect(young.reason).toBe(
      'no state of service:api is known good: switchback-test-s004-error-rate was in ALARM in the 30 minutes before the journal first saw it; in service for 10 of its 30 minute bake so far',
    );

    const failed = lastKnownGood(
      'service:api',
      [
        deploy('2025-03-01T09:00:00.000Z', 'a', 1, 2, 'IN_PROGRESS', 'ecs-svc/x'),
        deploy('2025-03-01T09:20:00.000Z', 'b', 1, 2, 'FAILED', 'ecs-svc/x'),
      ],
      { coversSince: '2025-03-01T09:00:00.000Z', intervals: [] },
      OPTIONS,
    );
    expect(failed.known).toBe(false);
    expect(failed.verdicts.map((v) => v.reason)).toEqual([
      expect.stringMatching(/does not cover/),
      'its deployment failed',
    ]);
  });

  it('the state before the journal counts when the alarm history covers its last 30 minutes, quietly', () => {
    const out = lastKnownGood('service:api', [deploy('2025-03-01T11:45:00.000Z', 'a', 1, 2)], QUIET, OPTIONS);
    expect(out).toMatchObject({ known: true, lkg: { state: { taskDefinition: TD(1) }, since: null } });
  });

  it('a restart on the same task definition continues the state; entries in any order give the same answer', () => {
    const entries = [
      deploy('2025-03-01T11:30:00.000Z', 'c', 2, 3),
      deploy('2025-03-01T09:00:00.000Z', 'a', 1, 2),
      deploy('2025-03-01T10:00:00.000Z', 'b', 2, 2, 'IN_PROGRESS', 'ecs-svc/restart'),
    ];
    const spans = statesOf(entries);
    expect(
      spans.map((s) => [s.state.type === 'service' && s.state.taskDefinition, s.since, s.until]),
    ).toEqual([
      [TD(1), null, '2025-03-01T09:00:00.000Z'],
      [TD(2), '2025-03-01T09:00:00.000Z', '2025-03-01T11:30:00.000Z'],
      [TD(3), '2025-03-01T11:30:00.000Z', null],
    ]);
    const out = lastKnownGood('service:api', entries, alarmed('2025-03-01T11:31:00.000Z', null), OPTIONS);
    // TD 2 went in at 09:00, was restarted at 10:00 (same state), and baked; TD 3 alarmed in its bake.
    expect(out).toMatchObject({
      known: true,
      lkg: { state: { taskDefinition: TD(2) }, since: '2025-03-01T09:00:00.000Z' },
    });
    const again = lastKnownGood(
      'service:api',
      [...entries].reverse(),
      alarmed('2025-03-01T11:31:00.000Z', null),
      OPTIONS,
    );
    expect(again).toEqual(out);
  });

  it('parameters: by value; a SecureString by version only; a configurable bake', () => {
    const entries = [
      setParam('2025-03-01T09:00:00.000Z', 'p1', [1, 'false'], [2, 'true']),
      setParam('2025-03-01T11:55:00.000Z', 'p2', [2, 'true'], [3, 'false']),
    ];
    const thirty = lastKnownGood('parameter:mcp/AUTONOMOUS_MODE', entries, QUIET, OPTIONS);
    expect(thirty).toMatchObject({
      known: true,
      lkg: { state: { type: 'parameter', version: 2, value: 'true' } },
    });
    const five = lastKnownGood('parameter:mcp/AUTONOMOUS_MODE', entries, QUIET, {
      ...OPTIONS,
      bakeMinutes: 5,
    });
    expect(five).toMatchObject({ known: true, lkg: { state: { version: 3, value: 'false' } } });

    const secure = lastKnownGood(
      'parameter:mcp/AUTONOMOUS_MODE',
      [setParam('2025-03-01T09:00:00.000Z', 's', [4, null], [5, null])],
      alarmed('2025-03-01T09:01:00.000Z', null),
      OPTIONS,
    );
    expect(secure).toMatchObject({ known: true, lkg: { state: { version: 4, value: null } } });
  });
});

describe('alarm history -> ALARM intervals', () => {
  it('pairs transitions per alarm, in any order; an alarm in ALARM at the start is open from there', () => {
    const history = alarmIntervals(
      [
        { alarm: 'b', at: '2025-03-01T10:30:00Z', oldState: 'ALARM', newState: 'OK' },
        { alarm: 'a', at: '2025-03-01T10:05:00Z', oldState: 'ALARM', newState: 'OK' },
        { alarm: 'a', at: '2025-03-01T10:00:00Z', oldState: 'OK', newState: 'ALARM' },
        { alarm: 'a', at: '2025-03-01T11:00:00Z', oldState: 'OK', newState: 'ALARM' },
      ],
      '2025-03-01T09:00:00.000Z',
    );
    expect(history.intervals).toEqual([
      { alarm: 'b', from: '2025-03-01T09:00:00.000Z', to: '2025-03-01T10:30:00Z' },
      { alarm: 'a', from: '2025-03-01T10:00:00Z', to: '2025-03-01T10:05:00Z' },
      { alarm: 'a', from: '2025-03-01T11:00:00Z', to: null },
    ]);
  });

  it('takes an alarm with no update in the history from its state now: ALARM since before the window is ALARM throughout', () => {
    const history = alarmIntervals([], '2025-03-01T09:00:00.000Z', [
      { alarm: 'stuck', state: 'ALARM', since: '2025-02-27T00:00:00.000Z' },
      { alarm: 'quiet', state: 'OK', since: '2025-02-27T00:00:00.000Z' },
      { alarm: 'unknown-since', state: 'ALARM', since: null },
    ]);
    expect(history).toEqual({
      coversSince: '2025-03-01T09:00:00.000Z',
      intervals: [
        { alarm: 'stuck', from: '2025-03-01T09:00:00.000Z', to: null },
        { alarm: 'unknown-since', from: '2025-03-01T09:00:00.000Z', to: null },
      ],
    });
  });

  it('prefers the history over the state now, and takes a change the history has not caught up with from it', () => {
    const history = alarmIntervals(
      [
        { alarm: 'a', at: '2025-03-01T10:00:00Z', oldState: 'OK', newState: 'ALARM' },
        { alarm: 'a', at: '2025-03-01T10:05:00Z', oldState: 'ALARM', newState: 'OK' },
        { alarm: 'b', at: '2025-03-01T10:10:00Z', oldState: 'OK', newState: 'ALARM' },
      ],
      '2025-03-01T09:00:00.000Z',
      [
        // The history's last word on a is OK at 10:05; it went to ALARM again at 11:00.
        { alarm: 'a', state: 'ALARM', since: '2025-03-01T11:00:00Z' },
        // b left ALARM at 10:20, an update the history does not show yet.
        { alarm: 'b', state: 'OK', since: '2025-03-01T10:20:00Z' },
      ],
    );
    expect(history.intervals).toEqual([
      { alarm: 'a', from: '2025-03-01T10:00:00Z', to: '2025-03-01T10:05:00Z' },
      { alarm: 'b', from: '2025-03-01T10:10:00Z', to: '2025-03-01T10:20:00Z' },
      { alarm: 'a', from: '2025-03-01T11:00:00Z', to: null },
    ]);
  });

  it('an alarm in ALARM since before the window keeps every state of the window from being known good', () => {
    const history = alarmIntervals([], '2025-03-01T08:00:00.000Z', [
      { alarm: 'switchback-test-s004-error-rate', state: 'ALARM', since: '2025-02-28T23:00:00.000Z' },
    ]);
    const lkg = lastKnownGood(
      'service:api',
      [deploy('2025-03-01T09:00:00.000Z', 'd1', 1, 2, 'COMPLETED')],
      history,
      OPTIONS,
    );
    expect(lkg.known).toBe(false);
    expect(lkg.verdicts.map((v) => v.reason)).toEqual([
      'switchback-test-s004-error-rate was in ALARM in the 30 minutes before the journal first saw it',
      'switchback-test-s004-error-rate went to ALARM during its 30 minute bake',
    ]);
  });
});

describe('the state before the journal, continued by a restart on the same task definition', () => {
  it('is judged over the bake before the journal first saw it: an alarm now does not disqualify it', () => {
    // The journal first sees api:1 at 11:00 (a restart, same task definition); the alarm fires at 11:55.
    const entries = [
      deploy('2025-03-01T11:00:00.000Z', 'restart', 1, 1, 'IN_PROGRESS', 'ecs-svc/r'),
      deploy('2025-03-01T11:00:30.000Z', 'restart-done', 1, 1, 'COMPLETED', 'ecs-svc/r'),
    ];
    const alarmed: AlarmHistory = {
      coversSince: '2025-02-28T00:00:00.000Z',
      intervals: [{ alarm: 'switchback-test-s004-error-rate', from: '2025-03-01T11:55:00.000Z', to: null }],
    };
    const lkg = lastKnownGood('service:api', entries, alarmed, OPTIONS);
    expect(lkg).toMatchObject({
      known: true,
      lkg: { state: { taskDefinition: TD(1) }, since: null },
      since: [],
    });
  });

  it('is not known good when the alarm was in ALARM in the bake before the journal first saw it', () => {
    const entries = [deploy('2025-03-01T11:00:00.000Z', 'restart', 1, 1, 'IN_PROGRESS', 'ecs-svc/r')];
    const alarmed: AlarmHistory = {
      coversSince: '2025-02-28T00:00:00.000Z',
      intervals: [
        {
          alarm: 'switchback-test-s004-error-rate',
          from: '2025-03-01T10:40:00.000Z',
          to: '2025-03-01T10:45:00.000Z',
        },
      ],
    };
    expect(lastKnownGood('service:api', entries, alarmed, OPTIONS)).toMatchObject({ known: false });
  });
});
