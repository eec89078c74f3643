import {
  type CloudWatchClient,
  paginateDescribeAlarmHistory,
  paginateDescribeAlarms,
} from '@aws-sdk/client-cloudwatch';
import { z } from 'zod';
import { type AlarmCatalog, alarmName } from '../alarm-catalog';
import { AlarmHistoryUnavailableError } from '../errors';
import { type AlarmHistory, type AlarmNow, alarmIntervals } from '../last-known-good';
import type { AlarmHistorySource, Clock } from '../ports';
import { describeSdkError } from './cloudwatch-metrics-source';

/**
 * How long CloudWatch keeps an alarm's history: two weeks ("CloudWatch alarms come with a 14-day
 * history"; "Amazon CloudWatch retains the history of active and deleted alarms for two weeks").
 * The history never claims more, less an hour so a purge running late is never read as a quiet hour.
 */
export const ALARM_HISTORY_RETENTION_MS = 14 * 24 * 3_600_000;
const RETENTION_MARGIN_MS = 3_600_000;

/** AlarmNames per DescribeAlarms request (the API's maximum). */
const NAMES_PER_REQUEST = 100;

/** HistoryData of a StateUpdate item: `{"version":"1.0","oldState":{"stateValue":...},"newState":{...}}`. */
const StateUpdateData = z.object({
  oldState: z.object({ stateValue: z.string().min(1) }),
  newState: z.object({ stateValue: z.string().min(1) }),
});

/**
 * The ALARM intervals of the stage's rollback alarms (the catalog's `<namePrefix><id>`, metric
 * alarms) from CloudWatch: each alarm's StateUpdate history (DescribeAlarmHistory, one alarm per
 * request so the role needs no wildcard) from the oldest time the history speaks for to now, and
 * its state now (DescribeAlarms), so an alarm in ALARM since before the window with no update in
 * it counts as ALARM over the whole window. `coversSince` is the window's start, or the oldest
 * time CloudWatch still keeps, whichever is later. Any read failure, or a state update that does
 * not parse, is AlarmHistoryUnavailableError: an incomplete history is never taken as a quiet one.
 */
export class CloudWatchAlarmHistory implements AlarmHistorySource {
  constructor(
    private readonly client: CloudWatchClient,
    private readonly catalog: Pick<AlarmCatalog, 'namePrefix' | 'alarms'>,
    private readonly clock: Clock = { now: () => new Date() },
  ) {}

  /** The full names of the stage's rollback alarms. */
  names(): string[] {
    return Object.keys(this.catalog.alarms)
      .map((id) => alarmName(this.catalog, id))
      .sort();
  }

  async history(window: { readonly since: Date; readonly until: Date }): Promise<AlarmHistory> {
    const now = this.clock.now();
    const oldestKept = now.getTime() - ALARM_HISTORY_RETENTION_MS + RETENTION_MARGIN_MS;
    const coversSince = new Date(Math.max(window.since.getTime(), oldestKept));
    const names = this.names();
    const wanted = new Set(names);
    const updates: { alarm: string; at: string; oldState: string; newState: string }[] = [];
    const current: AlarmNow[] = [];
    try {
      for (const name of names) {
        for await (const page of paginateDescribeAlarmHistory(
          { client: this.client },
          {
            AlarmName: name,
            HistoryItemType: 'StateUpdate',
            StartDate: coversSince,
            EndDate: now,
            ScanBy: 'TimestampAscending',
            MaxRecords: 100,
          },
        )) {
          for (const item of page.AlarmHistoryItems ?? []) {
            if (!item.AlarmName || !wanted.has(item.AlarmName)) continue;
            if (item.HistoryItemType && item.HistoryItemType !== 'StateUpdate') continue;
            updates.push(stateUpdate(item.AlarmName, item.Timestamp, item.HistoryData));
          }
        }
      }
      for (let i = 0; i < names.length; i += NAMES_PER_REQUEST) {
        for await (const page of paginateDescribeAlarms(
          { client: this.client },
          { AlarmNames: names.slice(i, i + NAMES_PER_REQUEST), MaxRecords: 100 },
        )) {
          for (const a of page.MetricAlarms ?? []) {
            if (!a.AlarmName || !wanted.has(a.AlarmName) || !a.StateValue) continue;
            // Only the transition time: StateUpdatedTimestamp also moves on evaluation-state updates.
            const since = a.StateTransitionedTimestamp?.toISOString() ?? null;
            current.push({ alarm: a.AlarmName, state: a.StateValue, since });
          }
        }
      }
    } catch (err) {
      if (err instanceof AlarmHistoryUnavailableError) throw err;
      throw new AlarmHistoryUnavailableError(
        `CloudWatch alarm history could not be read: ${describeSdkError(err)}`,
        {
          cause: err,
        },
      );
    }
    const history = alarmIntervals(updates, coversSince.toISOString(), current);
    // What began after the window is not part of it.
    const until = window.until.getTime();
    return { ...history, intervals: history.intervals.filter((i) => Date.parse(i.from) <= until) };
  }
}

function stateUpdate(alarm: string, at: Date | undefined, data: string | undefined) {
  let parsed: z.infer<typeof StateUpdateData> | undefined;
  try {
    parsed = at && data ? StateUpdateData.parse(JSON.parse(data)) : undefined;
  } catch {
    parsed = undefined;
  }
  if (!parsed || !at) {
    throw new AlarmHistoryUnavailableError(
      `A state update of ${alarm}${at ? ` at ${at.toISOString()}` : ''} has no readable old and new state`,
    );
  }
  return {
    alarm,
    at: at.toISOString(),
    oldState: parsed.oldState.stateValue,
    newState: parsed.newState.stateValue,
  };
}
