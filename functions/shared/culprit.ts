import { DRILL_MARKER_KEY } from './drill-config';
import type { JournalEntry } from './journal';
import { type AlarmHistory, type LkgOptions, lastKnownGood, type TargetState } from './last-known-good';

/**
 * Which change an alarm rolls back, from the change journal (README, "How the router decides").
 *
 * 1. Candidates are the changes since each target's last known good: for every protected service
 *    and watched parameter, the changes after its LKG went into service (all of its changes when
 *    nothing is known good: the rollback then holds and says why); and every Switchback cutover
 *    that completed and was not rolled back since.
 * 2. Only a change that started before the alarm went to ALARM (a minute of tolerance for the
 *    clocks) and within `maxChangeAgeHours` of now can have caused it.
 * 3. The **newest** of them is the culprit, and the only change this incident undoes: undoing an
 *    older one first would revert it underneath a newer change, or leave the likeliest cause in
 *    place. Each other candidate is listed with why it was not rolled back, and what would roll
 *    it back if the alarm stays in ALARM.
 * 4. The culprit's kind picks the rollback: a deployment -> code-rollback, a watched parameter ->
 *    config-rollback, a provider cutover -> provider-rollback, a database cutover ->
 *    database-rollback, a completed feature rollout -> feature-disable.
 */

/** Tolerance for the clocks of CloudWatch, ECS, SSM and Step Functions. */
export const CLOCK_TOLERANCE_MS = 60_000;

/** Which rollback undoes a Switchback cutover (in flight: the router stops it first). */
export const CUTOVER_ROLLBACKS: Readonly<Record<string, string>> = {
  'provider-cutover': 'provider-rollback',
  'database-cutover': 'database-rollback',
};

/**
 * Which rollback undoes a completed Switchback change from the journal: the cutovers', and a
 * completed feature rollout's emergency disable (one in flight is left to its own gates).
 */
export const JOURNALED_ROLLBACKS: Readonly<Record<string, string>> = {
  ...CUTOVER_ROLLBACKS,
  'feature-rollout': 'feature-disable',
};

export interface Considered {
  readonly entryId: string;
  readonly at: string;
  readonly subject: string;
  readonly actor: string | null;
  /** What the change was, from what to what. */
  readonly what: string;
  readonly rolledBack: boolean;
  readonly why: string;
}

export interface Culprit {
  readonly entryId: string;
  readonly at: string;
  readonly subject: string;
  readonly what: string;
  /** The rollback procedure that undoes it. */
  readonly procedure: string;
  /** What that procedure's `changeId` is: the journal entry, or the cutover's change id. */
  readonly changeId: string;
}

export interface CulpritDecision {
  readonly culprit: Culprit | null;
  readonly considered: readonly Considered[];
  readonly why: string;
}

function whatOf(e: JournalEntry): string {
  const c = e.change;
  switch (c.type) {
    case 'deployment':
      return `${c.service} deployed ${c.from ?? '?'} -> ${c.to ?? '?'}`;
    case 'parameter':
      return c.parameterType === 'SecureString'
        ? `${c.key} version ${c.fromVersion ?? '?'} -> ${c.toVersion ?? '?'} (SecureString)`
        : `${c.key} "${c.fromValue ?? ''}" -> "${c.toValue ?? ''}"`;
    case 'procedure':
      return `${c.procedure} ${c.changeId} ${c.status}`;
    case 'backup':
      return `backup ${c.backupId} of ${c.store}/${c.database}`;
  }
}

/** The first entry of each change: ECS reports a deployment several times (in progress, completed). */
function firstOfEach(entries: readonly JournalEntry[]): JournalEntry[] {
  const seen = new Set<string>();
  return [...entries]
    .sort((a, b) => a.entryId.localeCompare(b.entryId))
    .filter((e) => {
      const key = e.change.type === 'deployment' ? `${e.subject}#${e.change.deploymentId}` : e.entryId;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
}

export function chooseCulprit(o: {
  readonly entries: readonly JournalEntry[];
  readonly history: AlarmHistory;
  readonly options: LkgOptions;
  /** When the alarm went to ALARM. */
  readonly alarmAt: string;
  readonly maxChangeAgeHours: number;
  /** A drill's alarm (its reason names the drill): only the drill's own change may be undone. */
  readonly drill?: { readonly drillId: string; readonly markerSubject: string } | null;
}): CulpritDecision {
  const { entries, history, options } = o;
  const now = options.now.getTime();
  const alarmAt = Date.parse(o.alarmAt);
  const oldest = now - o.maxChangeAgeHours * 3_600_000;
  const candidates: { entry: JournalEntry; procedure: string; changeId: string }[] = [];
  const considered: Considered[] = [];
  const note = (e: JournalEntry, why: string) =>
    considered.push({
      entryId: e.entryId,
      at: e.at,
      subject: e.subject,
      actor: e.actor,
      what: whatOf(e),
      rolledBack: false,
      why,
    });

  const targets = [
    ...new Set(
      entries
        .filter((e) => e.change.type === 'deployment' || e.change.type === 'parameter')
        .map((e) => e.subject),
    ),
  ];
  for (const subject of targets) {
    const lkg = lastKnownGood(subject, entries, history, options);
    const since = new Set(lkg.since);
    const good = lkg.known ? lkg.lkg.state : undefined;
    for (const e of firstOfEach(entries.filter((x) => x.subject === subject && since.has(x.entryId)))) {
      if (e.change.type === 'deployment' && e.change.rollback) {
        note(e, 'ECS rolled this deployment back itself (circuit breaker or alarms)');
        continue;
      }
      if (o.drill ? subject !== o.drill.markerSubject : subject === `parameter:${DRILL_MARKER_KEY}`) {
        note(
          e,
          o.drill
            ? `a real change: drill ${o.drill.drillId} rolls back its own change only, never a real one`
            : "a drill's own change: not the cause of a real alarm",
        );
        continue;
      }
      if (good && returnsTo(e, good)) {
        note(e, 'it put the last known good back (a rollback): undoing it would bring the bad state back');
        continue;
      }
      candidates.push({
        entry: e,
        procedure: e.change.type === 'deployment' ? 'code-rollback' : 'config-rollback',
        changeId: e.entryId,
      });
    }
  }
  const rolledBack = new Set(
    entries.flatMap((e) =>
      e.change.type === 'procedure' && e.change.status === 'rolled-back' ? [e.change.changeId] : [],
    ),
  );
  for (const e of entries) {
    const c = e.change;
    if (c.type !== 'procedure' || c.status !== 'completed') continue;
    if (o.drill) continue; // a drill never undoes a real change
    const procedure = Object.hasOwn(JOURNALED_ROLLBACKS, c.procedure)
      ? JOURNALED_ROLLBACKS[c.procedure]
      : undefined;
    if (!procedure) continue;
    if (rolledBack.has(c.changeId)) {
      note(e, `${c.changeId} was rolled back already`);
      continue;
    }
    candidates.push({ entry: e, procedure, changeId: c.changeId });
  }

  const eligible: typeof candidates = [];
  for (const c of candidates) {
    const at = Date.parse(c.entry.at);
    if (at > alarmAt + CLOCK_TOLERANCE_MS) {
      note(
        c.entry,
        `made at ${c.entry.at}, after the alarm went to ALARM (${o.alarmAt}): it cannot have caused it`,
      );
    } else if (at < oldest) {
      note(c.entry, `older than ${o.maxChangeAgeHours} h: not undone automatically`);
    } else {
      eligible.push(c);
    }
  }
  eligible.sort((a, b) => a.entry.entryId.localeCompare(b.entry.entryId));
  const newest = eligible.pop();
  // A drill's change is rolled back only when nothing real came after it: otherwise the drill holds.
  const newerReal = o.drill
    ? considered.filter((c) => c.why.startsWith('a real change') && c.at > (newest?.entry.at ?? ''))
    : [];
  if (newest && newerReal.length) {
    return {
      culprit: null,
      considered: sortConsidered([
        ...considered,
        {
          entryId: newest.entry.entryId,
          at: newest.entry.at,
          subject: newest.entry.subject,
          actor: newest.entry.actor,
          what: whatOf(newest.entry),
          rolledBack: false,
          why: 'the drill change, but a real change came after it',
        },
      ]),
      why: `Drill ${o.drill?.drillId}: a real change (${newerReal[0]?.what}) came after the drill's own change; a drill never rolls back underneath a real change, so nothing is rolled back`,
    };
  }
  if (!newest) {
    return {
      culprit: null,
      considered: sortConsidered(considered),
      why: `No change in the journal since its last known good, made before the alarm and within ${o.maxChangeAgeHours} h: nothing to roll back`,
    };
  }
  for (const c of eligible) {
    note(
      c.entry,
      `older than the newest change (${whatOf(newest.entry)}): one change is undone per incident, newest first; if the alarm stays in ALARM, ${c.procedure} undoes this one (changeId ${c.changeId})`,
    );
  }
  const culprit: Culprit = {
    entryId: newest.entry.entryId,
    at: newest.entry.at,
    subject: newest.entry.subject,
    what: whatOf(newest.entry),
    procedure: newest.procedure,
    changeId: newest.changeId,
  };
  considered.push({
    entryId: culprit.entryId,
    at: culprit.at,
    subject: culprit.subject,
    actor: newest.entry.actor,
    what: culprit.what,
    rolledBack: true,
    why: `the newest change before the alarm: undone by ${culprit.procedure}`,
  });
  return {
    culprit,
    considered: sortConsidered(considered),
    why: `The newest change before the alarm is ${culprit.what} (${culprit.at}${newest.entry.actor ? `, by ${newest.entry.actor}` : ''}): ${culprit.procedure} undoes it`,
  };
}

/** Whether a change put its target back in that (last known good) state. */
function returnsTo(e: JournalEntry, state: TargetState): boolean {
  const c = e.change;
  if (c.type === 'deployment' && state.type === 'service')
    return c.to !== null && c.to === state.taskDefinition;
  if (c.type === 'parameter' && state.type === 'parameter')
    return c.toValue !== null
      ? c.toValue === state.value
      : c.toVersion !== null && c.toVersion === state.version;
  return false;
}

function sortConsidered(list: readonly Considered[]): Considered[] {
  return [...list].sort((a, b) => b.entryId.localeCompare(a.entryId));
}
