import { z } from 'zod';
import { FlagDriftError } from '../shared/errors';
import { type FlagName, FlagNameSchema } from '../shared/flags';
import { journalOwn, ownChangeOf } from '../shared/journal';
import type { Deps } from '../shared/step';
import { defineStep } from '../shared/step';
import { type ChangeRecord, latestRecord, readRecord, recordKey, requireRecord, writeRecord } from './record';

/** Flags recorded by every change so a rollback can put them back, whether or not it changes them. */
const ALWAYS_RECORDED: readonly FlagName[] = ['maintenance-mode'];
/** Flags the automation itself may set while holding for an operator; never counted as drift. */
const SAFETY_FLAGS: readonly FlagName[] = ['maintenance-mode'];

const ChangeId = z.string().regex(/^[A-Za-z0-9_-]{1,80}$/);

const Open = z.strictObject({
  action: z.literal('open'),
  changeId: ChangeId,
  procedure: z.string().min(1),
  executionId: z.string().min(1),
  reason: z.string(),
  requestedBy: z.string(),
  /** The values the change is about to set. */
  target: z.array(z.strictObject({ name: FlagNameSchema, value: z.string() })).min(1),
  /** Verified backups taken before the change (the outputs of the `backup` procedure). */
  backups: z
    .array(
      z.looseObject({
        backupId: z.string(),
        sha256: z.string().regex(/^[0-9a-f]{64}$/),
        store: z.enum(['postgres', 'sqlite']),
        database: z.string(),
        objectKey: z.string(),
        verified: z.literal(true),
      }),
    )
    .default([]),
});
const Plan = z.strictObject({
  action: z.literal('plan'),
  changeId: ChangeId.nullable(),
  procedure: z.string().min(1),
});
const CheckDrift = z.strictObject({ action: z.literal('check-drift'), changeId: ChangeId.nullable() });
const Close = z.strictObject({
  action: z.literal('close'),
  changeId: ChangeId,
  status: z.enum(['completed', 'rolled-back']),
  executionId: z.string().min(1),
});
const Input = z.discriminatedUnion('action', [Open, Plan, CheckDrift, Close]);

export interface RollbackPlan {
  readonly changeId: string | null;
  readonly source: 'change-record' | 'defaults';
  readonly restore: { name: FlagName; value: string }[];
  readonly taskDefinition: string | null;
  readonly expectProvider: string;
}

/** Without any change record, a provider rollback goes to seed 000's safe state: native. */
const DEFAULT_RESTORE: RollbackPlan['restore'] = [{ name: 'memory/provider', value: 'native' }];

/**
 * Opens, plans from, checks and closes change records (one JSON object per change in S3).
 * `open` is idempotent: re-running it returns the record already written rather than recording
 * the half-changed state as "previous".
 */
export const changeRecord = defineStep({
  name: 'change-record',
  input: Input,
  async run(input, deps) {
    switch (input.action) {
      case 'open':
        return summarize(await open(input, deps));
      case 'plan':
        return plan(input, deps);
      case 'check-drift':
        return checkDrift(input, deps);
      case 'close':
        return summarize(await close(input, deps));
    }
  },
});

function summarize(record: ChangeRecord) {
  return {
    changeId: record.changeId,
    status: record.status,
    previous: Object.fromEntries(Object.entries(record.previous).map(([k, v]) => [k, v.value])),
    taskDefinition: record.services.api.taskDefinition,
    backups: record.backups.map((b) => b.id),
  };
}

async function open(input: z.infer<typeof Open>, deps: Deps) {
  const { blobs, flags, services, config, clock, log } = deps;
  const key = recordKey(config.changeRecords.prefix, input.changeId);
  const existing = await readRecord(blobs, key);
  if (existing) {
    log.info('change record already open', { changeId: input.changeId });
    return existing;
  }
  const names = [...new Set<FlagName>([...input.target.map((t) => t.name), ...ALWAYS_RECORDED])];
  const previous: ChangeRecord['previous'] = {};
  for (const name of names) previous[name] = await flags.get(name);
  const api = await services.describe('api');
  const now = clock.now().toISOString();
  const record: ChangeRecord = {
    schemaVersion: 1,
    changeId: input.changeId,
    environment: config.environment,
    procedure: input.procedure,
    executionId: input.executionId,
    reason: input.reason,
    requestedBy: input.requestedBy,
    openedAt: now,
    previous,
    target: Object.fromEntries(input.target.map((t) => [t.name, t.value])),
    services: { api: { taskDefinition: api.taskDefinition } },
    backups: input.backups.map((b) => ({
      id: b.backupId,
      sha256: b.sha256,
      store: b.store,
      database: b.database,
      objectKey: b.objectKey,
    })),
    status: 'open',
    events: [{ at: now, status: 'open', executionId: input.executionId }],
  };
  await writeRecord(blobs, key, record);
  log.info('change record written', { changeId: input.changeId, key });
  await journalOwn(deps, ownChangeOf(record));
  return record;
}

async function findRecord(changeId: string | null, procedure: string, { blobs, config }: Deps) {
  if (changeId) return requireRecord(blobs, config.changeRecords.prefix, changeId);
  return latestRecord(blobs, config.changeRecords.prefix, procedure);
}

async function plan(input: z.infer<typeof Plan>, deps: Deps): Promise<RollbackPlan> {
  const record = await findRecord(input.changeId, input.procedure, deps);
  if (!record) {
    deps.log.warn('no change record found; rolling back to defaults', { procedure: input.procedure });
    return {
      changeId: null,
      source: 'defaults',
      restore: DEFAULT_RESTORE,
      taskDefinition: null,
      expectProvider: 'native',
    };
  }
  const restore = Object.entries(record.previous).map(([name, snap]) => ({
    name: name as FlagName,
    value: snap.value,
  }));
  return {
    changeId: record.changeId,
    source: 'change-record',
    restore,
    taskDefinition: record.services.api.taskDefinition,
    expectProvider: record.previous['memory/provider']?.value ?? 'native',
  };
}

/**
 * Rollback preflight: every flag the change set must still hold either the value the change set
 * or the value from before it. Anything else means someone changed it since, and overwriting
 * that without an emergency would lose their change.
 */
async function checkDrift(input: z.infer<typeof CheckDrift>, deps: Deps) {
  // Without a change record (a rollback to defaults) there is nothing the change set to compare.
  if (!input.changeId) return { drift: false, checked: [] as string[] };
  const record = await requireRecord(deps.blobs, deps.config.changeRecords.prefix, input.changeId);
  const checked: string[] = [];
  const drifted: string[] = [];
  for (const [name, target] of Object.entries(record.target) as [FlagName, string][]) {
    if (SAFETY_FLAGS.includes(name)) continue;
    const current = await deps.flags.get(name);
    const before = record.previous[name]?.value;
    checked.push(name);
    if (current.value !== target && current.value !== before) {
      drifted.push(`${name} is "${current.value}" (the change set "${target}", it was "${before}")`);
    }
  }
  // The rollback redeploys the task definition the change recorded: a deploy made after it (CI, an
  // operator) would be silently reverted. The journal's code-rollback undoes that deploy instead.
  const recorded = record.services.api.taskDefinition;
  const running = (await deps.services.describe('api')).taskDefinition;
  checked.push('api task definition');
  if (running !== recorded) {
    drifted.push(
      `the API runs ${running}, not ${recorded} as when the change was made: a deploy came after it, and rolling back would redeploy ${recorded} and revert that deploy (code-rollback undoes it instead; see \`switchback history\`)`,
    );
  }
  if (drifted.length) {
    throw new FlagDriftError(
      `Changed since change ${record.changeId}: ${drifted.join('; ')}. Rerun with emergency=true to override.`,
    );
  }
  return { drift: false, checked };
}

async function close(input: z.infer<typeof Close>, deps: Deps) {
  const { blobs, config, clock } = deps;
  const key = recordKey(config.changeRecords.prefix, input.changeId);
  const record = await requireRecord(blobs, config.changeRecords.prefix, input.changeId);
  if (record.status === input.status) return record;
  const updated: ChangeRecord = {
    ...record,
    status: input.status,
    events: [
      ...record.events,
      { at: clock.now().toISOString(), status: input.status, executionId: input.executionId },
    ],
  };
  await writeRecord(blobs, key, updated);
  await journalOwn(deps, ownChangeOf(updated));
  return updated;
}
