import { z } from 'zod';

/**
 * The change journal: every change to the protected stack, whoever made it. One entry per source
 * event; the entry's key is derived from the event (its time and its id), so a redelivered event
 * writes the same key and the conditional put refuses it: redelivery changes nothing.
 */

const TaskDefinition = z.string().min(1);

/** An ECS deployment of a protected service (CI, an operator, ECS's own rollback, Switchback). */
export const DeploymentChange = z.strictObject({
  type: z.literal('deployment'),
  /** The protected service's key (`api`, `sidecar`, ...) and its ECS name. */
  service: z.string().min(1),
  serviceName: z.string().min(1),
  /** The deployment id of the event (`ecs-svc/...`) and the service deployment it resolved to. */
  deploymentId: z.string().min(1),
  serviceDeploymentArn: z.string().nullable(),
  state: z.enum(['IN_PROGRESS', 'COMPLETED', 'FAILED']),
  /** ECS started it as a rollback (the event's reason says so). */
  rollback: z.boolean(),
  /** The task definition in service before (null when ECS knows none) and the one being deployed. */
  from: TaskDefinition.nullable(),
  to: TaskDefinition.nullable(),
});

/** A change of a watched parameter (a hand edit, CI, a script). */
export const ParameterChange = z.strictObject({
  type: z.literal('parameter'),
  key: z.string().min(1),
  name: z.string().min(1),
  operation: z.enum(['Create', 'Update', 'Delete', 'LabelParameterVersion']),
  /** `SecureString`: only versions are recorded; `fromValue`/`toValue` are then always null. */
  parameterType: z.enum(['String', 'StringList', 'SecureString']),
  fromVersion: z.number().int().nullable(),
  toVersion: z.number().int().nullable(),
  fromValue: z.string().nullable(),
  toValue: z.string().nullable(),
  /** Why the new value fails its validator, or null when it passes (or is not known). */
  invalid: z.string().nullable(),
});

/** One of Switchback's own changes, from its change record. */
export const ProcedureChange = z.strictObject({
  type: z.literal('procedure'),
  procedure: z.string().min(1),
  changeId: z.string().min(1),
  status: z.enum(['open', 'completed', 'rolled-back']),
  flags: z.array(z.strictObject({ name: z.string(), from: z.string().nullable(), to: z.string() })),
  taskDefinition: TaskDefinition.nullable(),
});

/** A verified backup: a restore point. */
export const BackupPoint = z.strictObject({
  type: z.literal('backup'),
  store: z.enum(['postgres', 'sqlite']),
  database: z.string().min(1),
  backupId: z.string().min(1),
  objectKey: z.string().min(1),
});

export const JournalChange = z.discriminatedUnion('type', [
  DeploymentChange,
  ParameterChange,
  ProcedureChange,
  BackupPoint,
]);
export type JournalChange = z.infer<typeof JournalChange>;

export const JournalEntry = z.strictObject({
  environment: z.string().min(1),
  /** When the change happened, as its source says (ISO 8601). */
  at: z.iso.datetime(),
  /** `<at>#<source>#<source event id>`: the sort key; the same event always makes the same id. */
  entryId: z.string().min(1),
  source: z.enum(['aws.ecs', 'aws.ssm', 'switchback']),
  sourceEventId: z.string().min(1),
  /** The decision matrix's kind of change: code (a deployment), config (a parameter, a flag), data. */
  kind: z.enum(['code', 'config', 'data']),
  /** What changed, as one string: `service:api`, `parameter:mem0/ENABLE_CACHING`, `procedure:...`. */
  subject: z.string().min(1),
  /** Who, where AWS says so (SSM's LastModifiedUser, a change record's requestedBy). */
  actor: z.string().nullable(),
  change: JournalChange,
  recordedAt: z.iso.datetime(),
  /** DynamoDB TTL: epoch seconds after which the entry may be deleted. */
  expiresAt: z.number().int(),
});
export type JournalEntry = z.infer<typeof JournalEntry>;

/** The journal's store: a DynamoDB table on AWS (pk environment, sk entryId), dynalite locally. */
export interface JournalStore {
  /** Writes the entry unless one with its key exists; returns whether it was new. */
  put(entry: JournalEntry): Promise<boolean>;
  /** Entries of the environment with `at` in [since, until), oldest first. */
  list(environment: string, range?: { since?: Date; until?: Date }): Promise<JournalEntry[]>;
}

export function entryId(at: string, source: JournalEntry['source'], sourceEventId: string): string {
  return `${at}#${source}#${sourceEventId}`;
}

export function expiresAt(recordedAt: Date, retentionDays: number): number {
  return Math.floor(recordedAt.getTime() / 1000) + retentionDays * 86_400;
}

/** The parts every entry shares, with its derived key and TTL. */
export function newEntry(o: {
  environment: string;
  at: string;
  source: JournalEntry['source'];
  sourceEventId: string;
  kind: JournalEntry['kind'];
  subject: string;
  actor: string | null;
  change: JournalChange;
  now: Date;
  retentionDays: number;
}): JournalEntry {
  const at = new Date(o.at).toISOString();
  return JournalEntry.parse({
    environment: o.environment,
    at,
    entryId: entryId(at, o.source, o.sourceEventId),
    source: o.source,
    sourceEventId: o.sourceEventId,
    kind: o.kind,
    subject: o.subject,
    actor: o.actor,
    change: o.change,
    recordedAt: o.now.toISOString(),
    expiresAt: expiresAt(o.now, o.retentionDays),
  });
}

interface JournalDeps {
  readonly journal?: JournalStore;
  readonly config: { readonly environment: string; readonly journal?: { readonly retentionDays: number } };
  readonly clock: { now(): Date };
}

/**
 * Writes one of Switchback's own entries when the environment has a journal (an environment
 * without one, or a test without a store, records nothing). Idempotent like every entry.
 */
export async function journalOwn(
  deps: JournalDeps,
  o: Pick<JournalEntry, 'at' | 'sourceEventId' | 'kind' | 'subject' | 'actor' | 'change'>,
): Promise<void> {
  if (!deps.journal || !deps.config.journal) return;
  await deps.journal.put(
    newEntry({
      ...o,
      environment: deps.config.environment,
      source: 'switchback',
      now: deps.clock.now(),
      retentionDays: deps.config.journal.retentionDays,
    }),
  );
}

/** A change record as the journal sees it: one entry per status it reaches (open, then closed). */
export function ownChangeOf(record: {
  readonly changeId: string;
  readonly procedure: string;
  readonly requestedBy: string;
  readonly status: 'open' | 'completed' | 'rolled-back';
  readonly previous: Readonly<Record<string, { readonly value: string } | undefined>>;
  readonly target: Readonly<Record<string, string | undefined>>;
  readonly services: { readonly api: { readonly taskDefinition: string } };
  readonly events: readonly { readonly at: string; readonly status: string }[];
}): Pick<JournalEntry, 'at' | 'sourceEventId' | 'kind' | 'subject' | 'actor' | 'change'> {
  const at = [...record.events].reverse().find((e) => e.status === record.status)?.at ?? record.events[0]?.at;
  if (!at) throw new Error(`change record ${record.changeId} has no events`);
  return {
    at,
    sourceEventId: `${record.changeId}:${record.status}`,
    kind: record.procedure.startsWith('database') ? 'data' : 'config',
    subject: `procedure:${record.procedure}`,
    actor: record.requestedBy || null,
    change: {
      type: 'procedure',
      procedure: record.procedure,
      changeId: record.changeId,
      status: record.status,
      flags: Object.entries(record.target).flatMap(([name, to]) =>
        to === undefined ? [] : [{ name, from: record.previous[name]?.value ?? null, to }],
      ),
      taskDefinition: record.services.api.taskDefinition,
    },
  };
}
