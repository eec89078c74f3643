import { z } from 'zod';
import { type ChangeRecord, readRecord, recordKey } from '../change-record/record';
import { ROLLBACK_PROCEDURES } from '../shared/alarm-catalog';
import { type Considered, CUTOVER_ROLLBACKS, type Culprit, chooseCulprit } from '../shared/culprit';
import { DRILL_MARKER_KEY, DRILL_REASON } from '../shared/drill-config';
import { readEvidence } from '../shared/last-known-good';
import type { Deps } from '../shared/step';
import { defineStep } from '../shared/step';

/** The lock item as the DynamoDB `getItem` integration returns it (`{}` when there is none). */
const LockRead = z.looseObject({
  Item: z.record(z.string(), z.looseObject({ S: z.string().optional() })).optional(),
});

const Decide = z.strictObject({
  phase: z.literal('decide'),
  /** The rollback procedure the decision matrix chose, and the procedures whose changes it undoes. */
  procedure: z.string().min(1),
  undoes: z.array(z.string().min(1)).min(1),
  /** When the alarm's state changed: a change that started after it cannot have caused it. */
  alarmChangedAt: z.iso.datetime({ offset: true }).optional(),
  maxChangeAgeHours: z.number().positive(),
  /** The alarm's state reason: a drill names itself there (functions/shared/drill-config.ts). */
  alarmReason: z.string().max(2048).optional(),
  lock: LockRead,
});
const Confirm = z.strictObject({
  phase: z.literal('confirm'),
  changeId: z.string().regex(/^[A-Za-z0-9_-]{1,80}$/),
});
const Input = z.discriminatedUnion('phase', [Decide, Confirm]);

/** How much earlier than a change an alarm must have fired to be known not to be caused by it. */
const PREDATES_TOLERANCE_MS = 60_000;

export interface InFlight {
  readonly owner: string;
  readonly procedure: string;
  readonly status: string;
}

export interface ResponsePlan {
  /** stop-in-flight: take the lock over and stop that execution; undo-last: roll back the last completed change; hold: notify only. */
  readonly action: 'stop-in-flight' | 'undo-last' | 'hold';
  readonly why: string;
  readonly procedure: string;
  /** The change to undo (from the lock item, or the last completed change record). */
  readonly changeId: string | null;
  readonly inFlight: InFlight | null;
  readonly lastChange: {
    readonly changeId: string;
    readonly procedure: string;
    readonly completedAt: string;
  } | null;
  /** From the change journal: the change undone (null when the journal chose none). */
  readonly culprit?: Culprit | null;
  /** Every journal entry considered, and why it was or was not rolled back. */
  readonly considered?: readonly Considered[];
}

/**
 * Decides what the rollback router does about an alarm, from the lock and the change records:
 * a cutover in flight that the chosen rollback can undo is stopped and rolled back from its
 * change record; with nothing in flight, the last completed change is undone if it is recent
 * enough; anything else (a lock held for an operator, a rollback already running, a change the
 * rollback cannot undo, no recent change, an unreadable record) is only reported, never guessed at.
 * `confirm` checks, after the cutover was stopped, whether it had recorded its change at all.
 */
export const planResponse = defineStep({
  name: 'plan-response',
  input: Input,
  async run(input, deps) {
    if (input.phase === 'confirm') {
      const record = await readRecord(
        deps.blobs,
        recordKey(deps.config.changeRecords.prefix, input.changeId),
      );
      return { recorded: record !== undefined, status: record?.status ?? null };
    }
    return decide(input, deps);
  },
});

async function decide(input: z.infer<typeof Decide>, deps: Deps): Promise<ResponsePlan> {
  const base = { procedure: input.procedure, changeId: null, inFlight: null, lastChange: null };
  const hold = (why: string, extra: Partial<ResponsePlan> = {}): ResponsePlan => {
    deps.log.warn('alarm response: hold, notify only', { why });
    return { ...base, ...extra, action: 'hold', why };
  };

  const drillId = input.alarmReason?.match(DRILL_REASON)?.[1] ?? null;
  const item = input.lock.Item;
  if (item && drillId) {
    return hold(
      `Drill ${drillId}: ${item.procedure?.S ?? 'a procedure'} (${item.owner?.S ?? 'unknown'}) holds the lock; a drill never stops or rolls back a real change`,
    );
  }
  if (item) {
    const attr = (name: string) => item[name]?.S ?? '';
    const inFlight: InFlight = { owner: attr('owner'), procedure: attr('procedure'), status: attr('status') };
    const changeId = item.changeId?.S ?? null;
    if (inFlight.status !== 'held') {
      return hold(
        `The environment lock is in status "${inFlight.status}" (owner ${inFlight.owner}, ${inFlight.procedure}): an operator must look first`,
        { inFlight },
      );
    }
    if (Object.hasOwn(ROLLBACK_PROCEDURES, inFlight.procedure) || inFlight.procedure === 'rollback-router') {
      return hold(
        `A rollback is already running: ${inFlight.procedure} (${attr('holder') || inFlight.owner})`,
        {
          inFlight,
        },
      );
    }
    // A rollback alarm during a cutover: the cutover in flight is the likeliest cause, whatever
    // kind the decision matrix names, so its own rollback undoes it (seed 002's error rate during
    // a database cutover rolls the cutover back).
    const ownRollback = Object.hasOwn(CUTOVER_ROLLBACKS, inFlight.procedure)
      ? CUTOVER_ROLLBACKS[inFlight.procedure]
      : undefined;
    if (!ownRollback) {
      return hold(
        `${inFlight.procedure} (${inFlight.owner}) holds the lock; no rollback of the router undoes it, so it is left to finish (its own gates and compensation apply)`,
        { inFlight },
      );
    }
    if (attr('holder') !== inFlight.owner) {
      return hold(`${inFlight.procedure} ${inFlight.owner} is already rolling back (${attr('holder')})`, {
        inFlight,
      });
    }
    if (!changeId) return hold(`The lock of ${inFlight.owner} names no change id`, { inFlight });
    return {
      ...base,
      procedure: ownRollback,
      action: 'stop-in-flight',
      why: `${inFlight.procedure} ${inFlight.owner} is in flight: stop it and roll back change ${changeId}`,
      changeId,
      inFlight,
    };
  }

  const journaled = await fromJournal(input, deps, drillId);
  if (drillId && !journaled?.culprit) {
    // A drill's alarm never falls back to the change records: it rolls back its own change or nothing.
    return hold(journaled?.why ?? `Drill ${drillId}: no change journal to find the drill's change in`, {
      considered: journaled?.considered ?? [],
    });
  }
  if (journaled?.culprit) {
    const { culprit, considered, why } = journaled;
    return {
      ...base,
      action: 'undo-last',
      procedure: culprit.procedure,
      why,
      changeId: culprit.changeId,
      culprit,
      considered,
    };
  }
  const fromRecords = await fromChangeRecords(input, deps, hold);
  return journaled
    ? {
        ...fromRecords,
        why: `${journaled.why}. ${fromRecords.why}`,
        culprit: null,
        considered: journaled.considered,
      }
    : fromRecords;
}

/** The journal's decision (functions/shared/culprit.ts), or undefined when the stage has no journal. */
async function fromJournal(input: z.infer<typeof Decide>, deps: Deps, drillId: string | null) {
  const cfg = deps.config.journal;
  if (!cfg || !deps.journal || !deps.alarmHistory) return undefined;
  const now = deps.clock.now();
  const { entries, history, options } = await readEvidence({
    journal: deps.journal,
    alarmHistory: deps.alarmHistory,
    environment: deps.config.environment,
    bakeMinutes: cfg.bakeMinutes,
    now,
  });
  return chooseCulprit({
    entries,
    history,
    options,
    alarmAt: input.alarmChangedAt ?? now.toISOString(),
    maxChangeAgeHours: input.maxChangeAgeHours,
    drill: drillId ? { drillId, markerSubject: `parameter:${DRILL_MARKER_KEY}` } : null,
  });
}

/** Without a journal (or when it names nothing): the last completed change record the rollback can undo. */
async function fromChangeRecords(
  input: z.infer<typeof Decide>,
  deps: Deps,
  hold: (why: string, extra?: Partial<ResponsePlan>) => ResponsePlan,
): Promise<ResponsePlan> {
  const base = { procedure: input.procedure, changeId: null, inFlight: null, lastChange: null };
  let latest: { record: ChangeRecord; key: string } | undefined;
  const prefix = `${deps.config.changeRecords.prefix.replace(/\/+$/, '')}/`;
  for (const key of (await deps.blobs.list(prefix)).filter((k) => k.endsWith('.json'))) {
    let record: ChangeRecord | undefined;
    try {
      record = await readRecord(deps.blobs, key);
    } catch (err) {
      // The newest change could be this one: undoing an older change instead would be a guess.
      return hold(
        `Change record ${key} cannot be read (${(err as Error).message}); not guessing which change to undo`,
      );
    }
    if (!record || !input.undoes.includes(record.procedure)) continue;
    if (!latest || Date.parse(record.openedAt) > Date.parse(latest.record.openedAt)) latest = { record, key };
  }
  if (!latest) return hold(`No change of ${input.undoes.join(', ')} is recorded: nothing to roll back`);
  const { record } = latest;
  if (record.status !== 'completed') {
    return hold(
      record.status === 'rolled-back'
        ? `The last change, ${record.changeId}, was already rolled back`
        : `The last change, ${record.changeId}, is still open with no execution holding the lock: an operator must look first`,
    );
  }
  const completedAt =
    [...record.events].reverse().find((e) => e.status === 'completed')?.at ?? record.openedAt;
  const lastChange = { changeId: record.changeId, procedure: record.procedure, completedAt };
  const ageHours = (deps.clock.now().getTime() - Date.parse(completedAt)) / 3_600_000;
  // A minute of tolerance for the clocks of CloudWatch and Step Functions: only an alarm clearly
  // older than the change (a delayed or replayed event) is refused as its cause.
  if (
    input.alarmChangedAt &&
    Date.parse(input.alarmChangedAt) < Date.parse(record.openedAt) - PREDATES_TOLERANCE_MS
  ) {
    return hold(
      `The alarm changed to ALARM at ${input.alarmChangedAt}, before the last change, ${record.changeId}, started (${record.openedAt}): that change did not cause it and is not undone`,
      { lastChange },
    );
  }
  if (ageHours > input.maxChangeAgeHours) {
    return hold(
      `The last change, ${record.changeId}, completed ${ageHours.toFixed(1)} h ago, more than ${input.maxChangeAgeHours} h: not undone automatically`,
      { lastChange },
    );
  }
  return {
    ...base,
    action: 'undo-last',
    why: `Nothing in flight: roll back the last completed change, ${record.changeId} (completed ${completedAt})`,
    changeId: record.changeId,
    lastChange,
  };
}
