import 'aws-sdk-client-mock-vitest/extend';
import {
  CloudWatchClient,
  DescribeAlarmHistoryCommand,
  DescribeAlarmsCommand,
  type MetricAlarm,
} from '@aws-sdk/client-cloudwatch';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  ALARM_HISTORY_RETENTION_MS,
  CloudWatchAlarmHistory,
} from '../../functions/shared/adapters/cloudwatch-alarm-history';
import type { CatalogEntry } from '../../functions/shared/alarm-catalog';
import { AlarmHistoryUnavailableError } from '../../functions/shared/errors';

const client = new CloudWatchClient({ region: 'eu-west-1' });
const cw = mockClient(client);
beforeEach(() => cw.reset());

const entry = (seed: string, rollback: CatalogEntry['rollback']): CatalogEntry => ({
  title: `seed ${seed}`,
  seed,
  service: 'api',
  issueType: 'critical-bug',
  severity: 'high',
  priority: 'P0',
  rollback,
});
const CATALOG = {
  namePrefix: 'switchback-prod-',
  alarms: { 's004-error-rate': entry('004', 'code'), 's002-error-rate': entry('002', 'data') },
};
const ERRORS = 'switchback-prod-s004-error-rate';
const DB = 'switchback-prod-s002-error-rate';
const OTHER_STAGE = 'switchback-staging-s004-error-rate';

const NOW = new Date('2025-03-01T12:00:00.000Z');
const clock = { now: () => NOW };
const WINDOW = { since: new Date('2025-03-01T06:00:00.000Z'), until: NOW };

/** A StateUpdate item in the shape DescribeAlarmHistory returns (HistoryData is a JSON string). */
function update(alarm: string, at: string, from: string, to: string) {
  return {
    AlarmName: alarm,
    AlarmType: 'MetricAlarm' as const,
    Timestamp: new Date(at),
    HistoryItemType: 'StateUpdate' as const,
    HistorySummary: `Alarm updated from ${from} to ${to}`,
    HistoryData: JSON.stringify({
      version: '1.0',
      oldState: { stateValue: from, stateReason: 'previous' },
      newState: {
        stateValue: to,
        stateReason: 'Threshold Crossed: 1 datapoint [12.0] was greater than the threshold (10.0).',
        stateReasonData: { version: '1.0', statistic: 'Average', period: 60, threshold: 10 },
      },
    }),
  };
}

function alarmNow(name: string, state: MetricAlarm['StateValue'], since: string): MetricAlarm {
  return {
    AlarmName: name,
    StateValue: state,
    StateTransitionedTimestamp: new Date(since),
    StateUpdatedTimestamp: new Date(since),
  };
}

function quiet() {
  cw.on(DescribeAlarmHistoryCommand).resolves({ AlarmHistoryItems: [] });
  cw.on(DescribeAlarmsCommand).resolves({ MetricAlarms: [] });
}

describe('CloudWatchAlarmHistory', () => {
  it('reads each rollback alarm of the stage by name, state updates only, oldest first, up to now', async () => {
    quiet();
    const history = await new CloudWatchAlarmHistory(client, CATALOG, clock).history(WINDOW);
    expect(history).toEqual({ coversSince: '2025-03-01T06:00:00.000Z', intervals: [] });
    const calls = cw.commandCalls(DescribeAlarmHistoryCommand).map((c) => c.args[0].input);
    expect(calls).toEqual(
      [DB, ERRORS].map((AlarmName) => ({
        AlarmName,
        HistoryItemType: 'StateUpdate',
        StartDate: WINDOW.since,
        EndDate: NOW,
        ScanBy: 'TimestampAscending',
        MaxRecords: 100,
      })),
    );
    expect(cw).toHaveReceivedCommandTimes(DescribeAlarmsCommand, 1);
    expect(cw).toHaveReceivedCommandWith(DescribeAlarmsCommand, { AlarmNames: [DB, ERRORS] });
  });

  it('pairs transitions across two pages into ALARM intervals', async () => {
    cw.on(DescribeAlarmHistoryCommand, { AlarmName: ERRORS, NextToken: undefined }).resolves({
      AlarmHistoryItems: [
        update(ERRORS, '2025-03-01T07:00:00.000Z', 'OK', 'ALARM'),
        update(ERRORS, '2025-03-01T07:20:00.000Z', 'ALARM', 'OK'),
      ],
      NextToken: 'page-2',
    });
    cw.on(DescribeAlarmHistoryCommand, { AlarmName: ERRORS, NextToken: 'page-2' }).resolves({
      AlarmHistoryItems: [update(ERRORS, '2025-03-01T11:00:00.000Z', 'OK', 'ALARM')],
    });
    cw.on(DescribeAlarmHistoryCommand, { AlarmName: DB }).resolves({ AlarmHistoryItems: [] });
    cw.on(DescribeAlarmsCommand).resolves({
      MetricAlarms: [
        alarmNow(ERRORS, 'ALARM', '2025-03-01T11:00:00.000Z'),
        alarmNow(DB, 'OK', '2025-02-20T00:00:00.000Z'),
      ],
    });
    const history = await new CloudWatchAlarmHistory(client, CATALOG, clock).history(WINDOW);
    expect(history.intervals).toEqual([
      { alarm: ERRORS, from: '2025-03-01T07:00:00.000Z', to: '2025-03-01T07:20:00.000Z' },
      { alarm: ERRORS, from: '2025-03-01T11:00:00.000Z', to: null },
    ]);
    const errorsCalls = cw
      .commandCalls(DescribeAlarmHistoryCommand)
      .filter((c) => c.args[0].input.AlarmName === ERRORS);
    // The paginator asks again with the token (it reuses one input object, so only the count is telling).
    expect(errorsCalls).toHaveLength(2);
    expect(errorsCalls[1]!.args[0].input.NextToken).toBe('page-2');
  });

  it('counts an alarm in ALARM since before the window, with no update in it, as ALARM throughout', async () => {
    cw.on(DescribeAlarmHistoryCommand).resolves({ AlarmHistoryItems: [] });
    cw.on(DescribeAlarmsCommand).resolves({
      MetricAlarms: [
        alarmNow(DB, 'ALARM', '2025-02-28T22:00:00.000Z'),
        alarmNow(ERRORS, 'OK', '2025-02-28T22:00:00.000Z'),
      ],
    });
    const history = await new CloudWatchAlarmHistory(client, CATALOG, clock).history(WINDOW);
    expect(history).toEqual({
      coversSince: '2025-03-01T06:00:00.000Z',
      intervals: [{ alarm: DB, from: '2025-03-01T06:00:00.000Z', to: null }],
    });
  });

  it('takes a transition the history does not show yet from DescribeAlarms, and without its time assumes ALARM throughout', async () => {
    cw.on(DescribeAlarmHistoryCommand).resolves({ AlarmHistoryItems: [] });
    cw.on(DescribeAlarmsCommand).resolves({
      MetricAlarms: [
        // Went to ALARM a minute ago; its history has not caught up.
        alarmNow(ERRORS, 'ALARM', '2025-03-01T11:59:00.000Z'),
        // No transition time, only an evaluation update inside the window: not taken as the start.
        { AlarmName: DB, StateValue: 'ALARM', StateUpdatedTimestamp: new Date('2025-03-01T11:00:00.000Z') },
      ],
    });
    const history = await new CloudWatchAlarmHistory(client, CATALOG, clock).history(WINDOW);
    expect(history.intervals).toEqual([
      { alarm: DB, from: '2025-03-01T06:00:00.000Z', to: null },
      { alarm: ERRORS, from: '2025-03-01T11:59:00.000Z', to: null },
    ]);
  });

  it('leaves out alarms of another stage, whatever CloudWatch returns', async () => {
    cw.on(DescribeAlarmHistoryCommand).resolves({
      AlarmHistoryItems: [
        update(OTHER_STAGE, '2025-03-01T08:00:00.000Z', 'OK', 'ALARM'),
        update(ERRORS, '2025-03-01T09:00:00.000Z', 'OK', 'ALARM'),
      ],
    });
    cw.on(DescribeAlarmsCommand).resolves({
      MetricAlarms: [
        alarmNow(OTHER_STAGE, 'ALARM', '2025-03-01T08:00:00.000Z'),
        alarmNow(ERRORS, 'ALARM', '2025-03-01T09:00:00.000Z'),
      ],
    });
    const history = await new CloudWatchAlarmHistory(client, CATALOG, clock).history(WINDOW);
    expect(history.intervals).toEqual([{ alarm: ERRORS, from: '2025-03-01T09:00:00.000Z', to: null }]);
    expect(JSON.stringify(history)).not.toContain('staging');
  });

  it('never claims more history than CloudWatch keeps (two weeks, less a margin)', async () => {
    quiet();
    const since = new Date(NOW.getTime() - 30 * 24 * 3_600_000);
    const history = await new CloudWatchAlarmHistory(client, CATALOG, clock).history({ since, until: NOW });
    const oldestKept = NOW.getTime() - ALARM_HISTORY_RETENTION_MS;
    expect(Date.parse(history.coversSince)).toBeGreaterThan(oldestKept);
    expect(history.coversSince).toBe('2025-02-15T13:00:00.000Z');
    expect(cw).toHaveReceivedCommandWith(DescribeAlarmHistoryCommand, {
      StartDate: new Date('2025-02-15T13:00:00.000Z'),
    });
  });

  it('keeps what was in ALARM during the window and drops what began after it', async () => {
    cw.on(DescribeAlarmHistoryCommand, { AlarmName: ERRORS }).resolves({
      AlarmHistoryItems: [
        update(ERRORS, '2025-03-01T08:50:00.000Z', 'OK', 'ALARM'),
        update(ERRORS, '2025-03-01T09:10:00.000Z', 'ALARM', 'OK'),
        update(ERRORS, '2025-03-01T11:00:00.000Z', 'OK', 'ALARM'),
      ],
    });
    cw.on(DescribeAlarmHistoryCommand, { AlarmName: DB }).resolves({ AlarmHistoryItems: [] });
    cw.on(DescribeAlarmsCommand).resolves({ MetricAlarms: [] });
    const until = new Date('2025-03-01T09:00:00.000Z');
    const history = await new CloudWatchAlarmHistory(client, CATALOG, clock).history({
      since: WINDOW.since,
      until,
    });
    expect(history.intervals).toEqual([
      { alarm: ERRORS, from: '2025-03-01T08:50:00.000Z', to: '2025-03-01T09:10:00.000Z' },
    ]);
  });

  it('refuses a state update whose HistoryData does not parse: an incomplete history is not a quiet one', async () => {
    cw.on(DescribeAlarmHistoryCommand).resolves({
      AlarmHistoryItems: [
        { ...update(ERRORS, '2025-03-01T08:00:00.000Z', 'OK', 'ALARM'), HistoryData: '{"x"' },
      ],
    });
    cw.on(DescribeAlarmsCommand).resolves({ MetricAlarms: [] });
    const err = await new CloudWatchAlarmHistory(client, CATALOG, clock).history(WINDOW).then(
      () => new Error('expected a rejection'),
      (e: unknown) => e as Error,
    );
    expect(err).toBeInstanceOf(AlarmHistoryUnavailableError);
    expect(err.message).toBe(
      `A state update of ${ERRORS} at 2025-03-01T08:00:00.000Z has no readable old and new state`,
    );
  });

  it('turns a CloudWatch failure into AlarmHistoryUnavailableError naming it', async () => {
    const throttled = Object.assign(new Error('Rate exceeded'), { name: 'Throttling' });
    cw.on(DescribeAlarmHistoryCommand).rejects(throttled);
    const err = await new CloudWatchAlarmHistory(client, CATALOG, clock).history(WINDOW).then(
      () => new Error('expected a rejection'),
      (e: unknown) => e as Error,
    );
    expect(err).toBeInstanceOf(AlarmHistoryUnavailableError);
    expect(err.message).toBe('CloudWatch alarm history could not be read: Throttling: Rate exceeded');
    expect(cw).toHaveReceivedCommandTimes(DescribeAlarmsCommand, 0);
  });
});
