import { type AlarmHistory, alarmIntervals } from '../../functions/shared/last-known-good';
import type { AlarmHistorySource } from '../../functions/shared/ports';

/**
 * CloudWatch's alarm history for the rehearsal: every state change the local world sends (the
 * rollback router's alarm events, a test's) is recorded here, and the last known good reads it as
 * it reads DescribeAlarmHistory on AWS. It speaks for the time since `coversSince`: the world
 * passes its start minus one bake period, standing for a stack that served that long with no
 * rollback alarm before the rehearsal began (what it starts with is then known good).
 */
export class LocalAlarmHistory implements AlarmHistorySource {
  private readonly updates: { alarm: string; at: string; oldState: string; newState: string }[] = [];
  private readonly states = new Map<string, string>();

  constructor(private readonly coversSince: Date) {}

  /** Records a state change of an alarm (ALARM, OK, INSUFFICIENT_DATA) at a time. */
  record(alarm: string, newState: string, at: Date = new Date()): void {
    const oldState = this.states.get(alarm) ?? 'OK';
    this.states.set(alarm, newState);
    this.updates.push({ alarm, at: at.toISOString(), oldState, newState });
  }

  async history(window: { readonly since: Date; readonly until: Date }): Promise<AlarmHistory> {
    const covers = new Date(Math.max(window.since.getTime(), this.coversSince.getTime()));
    const inWindow = this.updates.filter((u) => Date.parse(u.at) <= window.until.getTime());
    return alarmIntervals(inWindow, covers.toISOString());
  }
}
