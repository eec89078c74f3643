import { DeleteItemCommand, DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { GetParameterCommand, paginateGetParametersByPath, SSMClient } from '@aws-sdk/client-ssm';
import { DrillReport, drillReportPrefix } from '../functions/drill/drill';
import { DynamoJournalStore } from '../functions/shared/adapters/dynamodb-journal-store';
import { S3BlobStore } from '../functions/shared/adapters/s3-blob-store';
import { InvalidInputError } from '../functions/shared/errors';
import { FLAG_NAMES, flagParameterName } from '../functions/shared/flags';
import type { JournalEntry } from '../functions/shared/journal';
import { listBackups, type Store } from '../tasks/data/manifest';
import { checkStartInput } from './inputs';
import { runningExecutions, watch } from './operator';

/** Where a deployed stack publishes what the CLI needs (see lib/: discovery parameters). */
export function discovery(env: string, prefix = `/switchback/${env}`) {
  return {
    prefix,
    procedure: (name: string) => `${prefix}/procedures/${name}`,
    lockTable: `${prefix}/lock-table`,
    journalTable: `${prefix}/journal-table`,
    backupBucket: `${prefix}/backup-bucket`,
  };
}

export interface AwsClients {
  readonly s3?: S3Client;
  readonly ssm: SSMClient;
  readonly sfn: SFNClient;
  readonly dynamodb: DynamoDBClient;
}

/** Clients from the standard credential chain and region (AWS_PROFILE, AWS_REGION...). */
export function defaultClients(): AwsClients {
  return { ssm: new SSMClient({}), sfn: new SFNClient({}), dynamodb: new DynamoDBClient({}) };
}

export async function parameter(ssm: SSMClient, name: string): Promise<string> {
  const out = await ssm.send(new GetParameterCommand({ Name: name }));
  const value = out.Parameter?.Value;
  if (!value)
    throw new Error(`Parameter ${name} is empty: is the Switchback stack deployed for this environment?`);
  return value;
}

export interface StartOptions {
  readonly procedure: string;
  readonly env: string;
  readonly input: unknown;
  readonly name?: string;
  readonly wait: boolean;
  readonly write: (line: string) => void;
  readonly clients?: AwsClients;
  readonly pollMs?: number;
  readonly color?: boolean;
  /**
   * Asked once the input is valid and before anything is started (the CLI asks before a
   * production environment unless --yes); false starts nothing.
   */
  readonly confirm?: (what: string) => Promise<boolean>;
}

/**
 * Starts an execution; with `wait`, follows it until it ends. The input is parsed first with the
 * procedure's own schema (a refusal is printed as InvalidInputError, exit 2, nothing started),
 * then confirmed. Returns the process exit code.
 */
export async function startExecution(o: StartOptions): Promise<number> {
  try {
    checkStartInput(o.procedure, o.input);
  } catch (err) {
    if (!(err instanceof InvalidInputError)) throw err;
    o.write(`${err.name}: ${err.message}`);
    return 2;
  }
  if (o.confirm && !(await o.confirm(`Start ${o.procedure}`))) {
    o.write(`Not confirmed: nothing was started in ${o.env}.`);
    return 1;
  }
  const { ssm, sfn } = o.clients ?? defaultClients();
  const stateMachineArn = await parameter(ssm, discovery(o.env).procedure(o.procedure));
  const started = await sfn.send(
    new StartExecutionCommand({
      stateMachineArn,
      input: JSON.stringify(o.input),
      ...(o.name ? { name: o.name } : {}),
    }),
  );
  const executionArn = started.executionArn ?? '';
  o.write(`started ${executionArn}`);
  if (!o.wait) return 0;
  // The same live view as `switchback watch`: each state as it completes, with what it found.
  return watch({
    env: o.env,
    execution: executionArn,
    clients: { ssm, sfn, dynamodb: (o.clients ?? defaultClients()).dynamodb },
    write: o.write,
    pollMs: o.pollMs,
    color: o.color,
  });
}

export interface StatusOptions {
  readonly env: string;
  readonly write: (line: string) => void;
  readonly clients?: AwsClients;
}

/**
 * The environment at a glance: every flag (value and version), the kill switch, the lock, an open
 * incident, the executions running now and the last journaled change. Returns 1 when the lock
 * table is not published (the stack is not deployed for this environment), 0 otherwise.
 */
export async function showStatus(o: StatusOptions): Promise<number> {
  const { ssm, sfn, dynamodb } = o.clients ?? defaultClients();
  const d = discovery(o.env);
  const found = new Map<string, { value: string; version: number }>();
  for await (const page of paginateGetParametersByPath(
    { client: ssm },
    { Path: d.prefix, Recursive: true },
  )) {
    for (const p of page.Parameters ?? []) {
      if (p.Name && p.Value !== undefined && p.Type === 'String')
        found.set(p.Name, { value: p.Value, version: p.Version ?? 0 });
    }
  }
  o.write(`environment ${o.env}`);
  for (const name of FLAG_NAMES) {
    const p = found.get(flagParameterName(d.prefix, name));
    o.write(`  ${name.padEnd(20)} ${p ? `${p.value}  (v${p.version})` : 'MISSING'}`);
  }
  const paused = found.get(flagParameterName(d.prefix, 'automation/paused'))?.value;
  o.write(
    `  ${'kill switch'.padEnd(20)} ${
      paused === undefined
        ? 'UNKNOWN (automation/paused is missing)'
        : paused === 'true'
          ? 'ON: rollback alarms only notify; rollouts do not advance (switchback resume)'
          : 'off'
    }`,
  );
  const table = found.get(d.lockTable)?.value;
  if (!table) {
    o.write('  lock                 unknown (no lock-table parameter)');
    return 1;
  }
  const [lock, incident] = await Promise.all(
    [o.env, `${o.env}#incident`].map((pk) =>
      dynamodb.send(new GetItemCommand({ TableName: table, Key: { pk: { S: pk } }, ConsistentRead: true })),
    ),
  );
  if (!lock?.Item) o.write('  lock                 free');
  else
    o.write(
      `  lock                 ${lock.Item.status?.S} by ${lock.Item.owner?.S} (${lock.Item.procedure?.S})`,
    );
  const inc = incident?.Item;
  o.write(
    `  ${'incident'.padEnd(20)} ${
      inc?.status?.S === 'open'
        ? `OPEN ${inc.incidentId?.S ?? '?'} handled by ${inc.owner?.S ?? '?'}`
        : inc
          ? `none open (last: ${inc.incidentId?.S ?? '?'}, ${inc.status?.S ?? '?'})`
          : 'none'
    }`,
  );

  const prefix = `${d.prefix}/procedures/`;
  const procedures = new Map(
    [...found].filter(([n]) => n.startsWith(prefix)).map(([n, p]) => [n.slice(prefix.length), p.value]),
  );
  const running = await runningExecutions(sfn, procedures);
  if (!running.length) o.write(`  ${'running'.padEnd(20)} nothing`);
  for (const [i, e] of running.entries())
    o.write(
      `  ${(i === 0 ? 'running' : '').padEnd(20)} ${e.procedure} ${e.name} since ${e.startDate.toISOString()}  ${e.executionArn}`,
    );

  const journal = found.get(d.journalTable)?.value;
  const last = journal ? await new DynamoJournalStore(dynamodb, journal).latest(o.env) : undefined;
  o.write(
    `  ${'last change'.padEnd(20)} ${
      !journal
        ? 'unknown (no change journal in this environment)'
        : last
          ? describeEntry(last)
          : 'none journaled'
    }`,
  );
  return 0;
}

export interface UnlockOptions {
  readonly env: string;
  readonly owner: string;
  readonly write: (line: string) => void;
  readonly clients?: AwsClients;
}

/** Deletes the environment's lock if `owner` holds it (ConditionalCheckFailedException otherwise). */
export async function releaseLockOwnedBy(
  dynamodb: DynamoDBClient,
  table: string,
  env: string,
  owner: string,
): Promise<void> {
  await dynamodb.send(
    new DeleteItemCommand({
      TableName: table,
      Key: { pk: { S: env } },
      ConditionExpression: '#owner = :owner',
      ExpressionAttributeNames: { '#owner': 'owner' },
      ExpressionAttributeValues: { ':owner': { S: owner } },
    }),
  );
}

/** Deletes the lock only if the named execution owns it: the operator says which lock they release. */
export async function unlock(o: UnlockOptions): Promise<number> {
  const { ssm, dynamodb } = o.clients ?? defaultClients();
  const table = await parameter(ssm, discovery(o.env).lockTable);
  try {
    await releaseLockOwnedBy(dynamodb, table, o.env, o.owner);
  } catch (err) {
    if ((err as Error).name === 'ConditionalCheckFailedException') {
      o.write(`The ${o.env} lock is not held by ${o.owner}; nothing released.`);
      return 1;
    }
    throw err;
  }
  o.write(`Released the ${o.env} lock held by ${o.owner}.`);
  return 0;
}

export interface BackupsOptions {
  readonly env: string;
  readonly store: Store;
  readonly database: string;
  readonly limit: number;
  readonly write: (line: string) => void;
  readonly clients?: AwsClients;
}

/** The backup catalog of one database, newest first, verified or not. */
export async function listBackupsCommand(o: BackupsOptions): Promise<number> {
  const clients = o.clients ?? defaultClients();
  const bucket = await parameter(clients.ssm, discovery(o.env).backupBucket);
  const blobs = new S3BlobStore(clients.s3 ?? new S3Client({}), bucket);
  const backups = (await listBackups(blobs, o.env, o.store, o.database)).slice(0, o.limit);
  if (!backups.length) {
    o.write(`no ${o.store} backups of ${o.database} in ${o.env}`);
    return 0;
  }
  o.write(
    `${'backup id'.padEnd(52)} ${'taken at'.padEnd(24)} ${'verified'.padEnd(8)} ${'purpose'.padEnd(10)} size`,
  );
  for (const b of backups) {
    const verified = b.verification?.status === 'passed' ? 'yes' : b.verification ? 'FAILED' : 'no';
    o.write(
      `${b.backupId.padEnd(52)} ${b.takenAt.padEnd(24)} ${verified.padEnd(8)} ${b.purpose.padEnd(10)} ${(b.sizeBytes / 1024 / 1024).toFixed(1)} MB`,
    );
  }
  return 0;
}

export interface DrillsOptions {
  readonly env: string;
  readonly limit: number;
  readonly write: (line: string) => void;
  readonly clients?: AwsClients;
}

const median = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s[Math.floor(s.length / 2)] as number) : Number.NaN;
};

/**
 * The environment's recent drills (their reports under `drills/<env>/`), newest first, each phase
 * and whether it met seed 004's target, and the trend of alarm -> verified: the median of the
 * newest three against the three before. A drill that failed writes no report; its execution does.
 */
export async function listDrills(o: DrillsOptions): Promise<number> {
  const clients = o.clients ?? defaultClients();
  const bucket = await parameter(clients.ssm, discovery(o.env).backupBucket);
  const blobs = new S3BlobStore(clients.s3 ?? new S3Client({}), bucket);
  const reports: DrillReport[] = [];
  for (const key of (await blobs.list(drillReportPrefix(o.env))).filter((k) => k.endsWith('.json'))) {
    const raw = await blobs.get(key);
    const parsed = DrillReport.safeParse(raw ? JSON.parse(Buffer.from(raw).toString('utf8')) : null);
    if (parsed.success) reports.push(parsed.data);
    else o.write(`skipped ${key}: not a drill report (${parsed.error.issues[0]?.message ?? 'unreadable'})`);
  }
  if (!reports.length) {
    o.write(
      `no drill reports in ${o.env} (drills/${o.env}/ in ${bucket}); a failed drill writes none: see its execution`,
    );
    return 0;
  }
  reports.sort((a, b) => b.timeline.startedAt.localeCompare(a.timeline.startedAt));
  o.write(
    `${'drill'.padEnd(48)} ${'started'.padEnd(24)} ${'kind'.padEnd(7)} ${'change->alarm'.padStart(13)} ${'alarm->verified'.padStart(15)} ${'total'.padStart(8)}  target`,
  );
  for (const r of reports.slice(0, o.limit)) {
    o.write(
      `${r.drillId.padEnd(48)} ${r.timeline.startedAt.padEnd(24)} ${r.kind.padEnd(7)} ${`${r.phases.changeToAlarm} s`.padStart(13)} ${`${r.phases.alarmToRolledBack} s`.padStart(15)} ${`${r.phases.total} s`.padStart(8)}  ${r.target.withinTarget ? 'met' : 'MISSED'} (< ${r.target.alarmToVerifiedSeconds} s)`,
    );
  }
  const phase = reports.map((r) => r.phases.alarmToRolledBack);
  if (phase.length >= 6) {
    const newest = median(phase.slice(0, 3));
    const before = median(phase.slice(3, 6));
    o.write(
      `trend: alarm -> verified median ${newest} s over the newest 3, ${before} s over the 3 before (${newest > before ? 'slower' : newest < before ? 'faster' : 'unchanged'})`,
    );
  }
  return 0;
}

export interface HistoryOptions {
  readonly env: string;
  /** Only entries at or after this time. */
  readonly since?: Date;
  readonly limit: number;
  readonly write: (line: string) => void;
  readonly clients?: AwsClients;
}

/** The task definition's family and revision (`memory-api:7`) rather than its whole ARN. */
const shortTaskDefinition = (td: string | null) => (td ? (td.split('/').pop() ?? td) : '?');
const shortValue = (version: number | null, value: string | null) =>
  `${version === null ? '-' : `v${version}`}${value === null ? '' : ` ${JSON.stringify(value)}`}`;

/** One line of `switchback history`: what changed, from what to what, and who or how. */
export function describeEntry(e: JournalEntry): string {
  const c = e.change;
  const what = (() => {
    switch (c.type) {
      case 'deployment':
        return `${shortTaskDefinition(c.from)} -> ${shortTaskDefinition(c.to)}  ${c.state}${c.rollback ? ' (ECS rollback)' : ''}  ${c.deploymentId}`;
      case 'parameter':
        return `${c.operation} ${shortValue(c.fromVersion, c.fromValue)} -> ${shortValue(c.toVersion, c.toValue)}${
          c.parameterType === 'SecureString' ? '  (SecureString: versions only)' : ''
        }${c.invalid ? `  INVALID: ${c.invalid}` : ''}`;
      case 'procedure':
        return `${c.changeId} ${c.status}${c.flags.map((f) => `  ${f.name} ${f.from ?? '?'} -> ${f.to}`).join('')}`;
      case 'backup':
        return `restore point ${c.backupId}`;
    }
  })();
  return `${e.at}  ${e.source.padEnd(10)} ${e.kind.padEnd(6)} ${e.subject.padEnd(34)} ${what}${e.actor ? `  by ${e.actor}` : ''}`;
}

/** The change journal of an environment, newest first. */
export async function showHistory(o: HistoryOptions): Promise<number> {
  const { ssm, dynamodb } = o.clients ?? defaultClients();
  const table = await parameter(ssm, discovery(o.env).journalTable);
  const entries = await new DynamoJournalStore(dynamodb, table).list(
    o.env,
    o.since ? { since: o.since } : {},
  );
  if (entries.length === 0) {
    o.write(`no journal entries in ${o.env}${o.since ? ` since ${o.since.toISOString()}` : ''}`);
    return 0;
  }
  const shown = entries.slice(-o.limit).reverse();
  o.write(`${'time'.padEnd(24)}  ${'source'.padEnd(10)} ${'kind'.padEnd(6)} ${'subject'.padEnd(34)} change`);
  for (const e of shown) o.write(describeEntry(e));
  if (shown.length < entries.length)
    o.write(`(${entries.length - shown.length} older entries not shown: --limit)`);
  return 0;
}
