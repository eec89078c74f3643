import type { JournalEntry } from './journal';

/**
 * Last known good (LKG), derived from the change journal and the rollback alarms' own history.
 *
 * The rule (README, "Last known good"):
 * 1. A target is a protected service (its task definition) or a watched parameter (its value, or
 *    only its version for a SecureString). Its journal entries cut its history into **states**: a
 *    state starts with the change that put it in service (the first event of an ECS deployment, a
 *    parameter's new version) and ends when the next change of that target starts. A change to
 *    the same task definition or value (a restart, a value restored as a new version) continues
 *    the state instead of starting one.
 * 2. A state is **known good** when it stayed in service for the whole bake period (default 30
 *    minutes) **and** no rollback alarm of the stage was in ALARM at any moment of
 *    [start, start + bake] **and** its deployment did not fail. A state alarmed during its bake is
 *    never known good, however quiet it was afterwards.
 * 3. The state in service before the journal's first entry of a target (the first change's
 *    "from") counts only if the alarm history covers the bake period before it ended and no
 *    rollback alarm was in ALARM then.
 * 4. The LKG is the newest known good state. When there is none (or its task definition or value
 *    is unknown), the answer is "nothing known good": a rollback then holds and says why; it
 *    never guesses.
 */

/** One stretch of time a rollback alarm spent in ALARM (`to` null: still in ALARM). */
export interface AlarmInterval {
  readonly alarm: string;
  readonly from: string;
  readonly to: string | null;
}

export interface AlarmHistory {
  /** Since when the history is complete (the oldest time it speaks for). */
  readonly coversSince: string;
  readonly intervals: readonly AlarmInterval[];
}

/** What a target is in a state: a task definition (service) or a value and version (parameter). */
export type TargetState =
  | { readonly type: 'service'; readonly taskDefinition: string | null }
  | { readonly type: 'parameter'; readonly version: number | null; readonly value: string | null };

export interface StateSpan {
  readonly state: TargetState;
  /** When it went into service (null: before the journal's first entry). */
  readonly since: string | null;
  /** When the next change replaced it (null: still in service). */
  readonly until: string | null;
  /** The journal entries that made it (empty for the state before the journal). */
  readonly entryIds: readonly string[];
  readonly failed: boolean;
  /**
   * The state in service before the journal: when the journal first saw the target. Its bake is
   * judged before this moment, even when later entries (a restart on the same task definition)
   * continued it.
   */
  readonly firstSeen?: string;
}

export interface Verdict {
  readonly span: StateSpan;
  readonly good: boolean;
  /** Why it is, or is not, known good: observed facts, not hopes. */
  readonly reason: string;
}

export type LastKnownGood =
  | {
      readonly subject: string;
      readonly known: true;
      readonly lkg: StateSpan;
      /** Entries that changed the target after its LKG went into service: the candidates. */
      readonly since: readonly string[];
      readonly verdicts: readonly Verdict[];
    }
  | {
      readonly subject: string;
      readonly known: false;
      readonly reason: string;
      readonly since: readonly string[];
      readonly verdicts: readonly Verdict[];
    };

export interface LkgOptions {
  readonly bakeMinutes: number;
  readonly now: Date;
}

const ms = (iso: string) => Date.parse(iso);

function sameState(a: TargetState, b: TargetState): boolean {
  if (a.type === 'service' && b.type === 'service')
    return a.taskDefinition !== null && a.taskDefinition === b.taskDefinition;
  if (a.type === 'parameter' && b.type === 'parameter')
    return a.value !== null ? a.value === b.value : a.version !== null && a.version === b.version;
  return false;
}

/** The states of one target, oldest first, from its journal entries (any order). */
export function statesOf(entries: readonly JournalEntry[]): StateSpan[] {
  const sorted = [...entries].sort((a, b) => a.entryId.localeCompare(b.entryId));
  // ECS reports a deployment several times (in progress, completed or failed): one change each.
  interface Change {
    at: string;
    from: TargetState;
    to: TargetState;
    failed: boolean;
    entryIds: string[];
  }
  const changes: Change[] = [];
  const byDeployment = new Map<string, Change>();
  for (const e of sorted) {
    const c = e.change;
    if (c.type === 'deployment') {
      const seen = byDeployment.get(c.deploymentId);
      if (seen) {
        seen.failed ||= c.state === 'FAILED';
        seen.entryIds.push(e.entryId);
        if (seen.to.type === 'service' && seen.to.taskDefinition === null && c.to)
          seen.to = { type: 'service', taskDefinition: c.to };
        continue;
      }
      const change: Change = {
        at: e.at,
        from: { type: 'service', taskDefinition: c.from },
        to: { type: 'service', taskDefinition: c.to },
        failed: c.state === 'FAILED',
        entryIds: [e.entryId],
      };
      byDeployment.set(c.deploymentId, change);
      changes.push(change);
    } else if (c.type === 'parameter') {
      changes.push({
        at: e.at,
        from: { type: 'parameter', version: c.fromVersion, value: c.fromValue },
        to: { type: 'parameter', version: c.toVersion, value: c.toValue },
        failed: false,
        entryIds: [e.entryId],
      });
    }
  }
  const first = changes[0];
  if (!first) return [];
  const spans: StateSpan[] = [
    { state: first.from, since: null, until: first.at, entryIds: [], failed: false, firstSeen: first.at },
  ];
  for (const c of changes) {
    const current = spans[spans.length - 1];
    if (current && !c.failed && sameState(current.state, c.to)) {
      spans[spans.length - 1] = { ...current, entryIds: [...current.entryIds, ...c.entryIds], until: null };
      continue;
    }
    if (current) spans[spans.length - 1] = { ...current, until: c.at };
    spans.push({ state: c.to, since: c.at, until: null, entryIds: c.entryIds, failed: c.failed });
  }
  return spans;
}

function alarmDuring(history: AlarmHistory, from: number, to: number): AlarmInterval | undefined {
  return history.intervals.find((i) => ms(i.from) <= to && (i.to === null || ms(i.to) >= from));
}

function known(state: TargetState): boolean {
  return state.type === 'service'
    ? state.taskDefinition !== null
    : state.value !== null || state.version !== null;
}

/** The verdict on one state under the rule above. */
export function judge(span: StateSpan, history: AlarmHistory, options: LkgOptions): Verdict {
  const bake = options.bakeMinutes * 60_000;
  const end = span.until ? ms(span.until) : options.now.getTime();
  const minutes = options.bakeMinutes;
  if (!known(span.state))
    return { span, good: false, reason: 'what it ran is unknown (ECS or SSM kept no record of it)' };
  if (span.failed) return { span, good: false, reason: 'its deployment failed' };
  if (span.since === null) {
    // Judged over the bake before the journal first saw it: what came after (a restart on the same
    // task definition that continued it, an alarm while it stayed in service) is not its bake.
    const seen = span.firstSeen ? Math.min(end, ms(span.firstSeen)) : end;
    const start = seen - bake;
    if (ms(history.coversSince) > start)
      return {
        span,
        good: false,
        reason: `it predates the journal and the alarm history does not cover the ${minutes} minutes before the journal first saw it`,
      };
    const alarm = alarmDuring(history, start, seen);
    return alarm
      ? {
          span,
          good: false,
          reason: `${alarm.alarm} was in ALARM in the ${minutes} minutes before the journal first saw it`,
        }
      : {
          span,
          good: true,
          reason: `in service with no rollback alarm for ${minutes} minutes before the journal's first change`,
        };
  }
  const start = ms(span.since);
  const alarm = alarmDuring(history, start, start + bake);
  if (alarm)
    return { span, good: false, reason: `${alarm.alarm} went to ALARM during its ${minutes} minute bake` };
  if (end - start < bake) {
    const served = Math.floor((end - start) / 60_000);
    return {
      span,
      good: false,
      reason: span.until
        ? `replaced after ${served} of its ${minutes} minute bake`
        : `in service for ${served} of its ${minutes} minute bake so far`,
    };
  }
  return { span, good: true, reason: `stayed in service ${minutes} minutes with no rollback alarm in ALARM` };
}

/**
 * The last known good state of one target (all entries given must be of that target), the
 * verdict on each of its states, and the entries since the LKG went into service.
 */
export function lastKnownGood(
  subject: string,
  entries: readonly JournalEntry[],
  history: AlarmHistory,
  options: LkgOptions,
): LastKnownGood {
  const own = entries.filter((e) => e.subject === subject);
  const spans = statesOf(own);
  const verdicts = spans.map((s) => judge(s, history, options));
  const lkg = [...verdicts].reverse().find((v) => v.good);
  if (!lkg) {
    return {
      subject,
      known: false,
      reason:
        spans.length === 0
          ? `the journal has no change of ${subject}`
          : `no state of ${subject} is known good: ${verdicts.map((v) => v.reason).join('; ')}`,
      since: own.map((e) => e.entryId).sort(),
      verdicts,
    };
  }
  const mine = new Set(lkg.span.entryIds);
  const last = [...lkg.span.entryIds].sort().pop() ?? '';
  return {
    subject,
    known: true,
    lkg: lkg.span,
    since: own
      .map((e) => e.entryId)
      .filter((id) => !mine.has(id) && id > last)
      .sort(),
    verdicts,
  };
}

/** An alarm's state now (CloudWatch DescribeAlarms): its value and when it last changed. */
export interface AlarmNow {
  readonly alarm: string;
  readonly state: string;
  /** When the state value last changed (StateTransitionedTimestamp); null when not reported. */
  readonly since: string | null;
}

/**
 * Turns CloudWatch alarm history (state updates, any order) into ALARM intervals. An alarm whose
 * oldest update leaves ALARM was in ALARM from `coversSince`. `current` gives each alarm's state
 * now: an alarm with no update in the history is in that state over the whole window (ALARM
 * since before the window: ALARM from `coversSince`), and a change newer than the history's last
 * update (the history not yet caught up) is taken from it.
 */
export function alarmIntervals(
  updates: readonly { alarm: string; at: string; oldState: string; newState: string }[],
  coversSince: string,
  current: readonly AlarmNow[] = [],
): AlarmHistory {
  const byAlarm = new Map<string, typeof updates>();
  for (const u of updates) byAlarm.set(u.alarm, [...(byAlarm.get(u.alarm) ?? []), u]);
  for (const c of current) if (!byAlarm.has(c.alarm)) byAlarm.set(c.alarm, []);
  const intervals: AlarmInterval[] = [];
  for (const [alarm, list] of byAlarm) {
    const sorted = [...list].sort((a, b) => ms(a.at) - ms(b.at));
    const now = current.find((c) => c.alarm === alarm);
    const first = sorted[0];
    let open: string | null = first?.oldState === 'ALARM' ? coversSince : null;
    if (!first && now?.state === 'ALARM')
      open = now.since && ms(now.since) > ms(coversSince) ? now.since : coversSince;
    for (const u of sorted) {
      if (u.newState === 'ALARM' && open === null) open = u.at;
      else if (u.newState !== 'ALARM' && open !== null) {
        intervals.push({ alarm, from: open, to: u.at });
        open = null;
      }
    }
    const last = sorted[sorted.length - 1];
    if (last && now?.since && ms(now.since) > ms(last.at)) {
      if (now.state === 'ALARM' && open === null) open = now.since;
      else if (now.state !== 'ALARM' && open !== null) {
        intervals.push({ alarm, from: open, to: now.since });
        open = null;
      }
    }
    if (open !== null) intervals.push({ alarm, from: open, to: null });
  }
  return { coversSince, intervals: intervals.sort((a, b) => ms(a.from) - ms(b.from)) };
}

/**
 * The evidence the last known good is judged on: the environment's whole journal, oldest first,
 * and the rollback alarms' history from one bake period before its first entry until now.
 */
export async function readEvidence(o: {
  readonly journal: { list(environment: string): Promise<JournalEntry[]> };
  readonly alarmHistory: { history(window: { since: Date; until: Date }): Promise<AlarmHistory> };
  readonly environment: string;
  readonly bakeMinutes: number;
  readonly now: Date;
}): Promise<{ entries: JournalEntry[]; history: AlarmHistory; options: LkgOptions }> {
  const entries = await o.journal.list(o.environment);
  const oldest = entries[0] ? Date.parse(entries[0].at) : o.now.getTime();
  const history = await o.alarmHistory.history({
    since: new Date(oldest - o.bakeMinutes * 60_000),
    until: o.now,
  });
  return { entries, history, options: { bakeMinutes: o.bakeMinutes, now: o.now } };
}
