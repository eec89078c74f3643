/**
 * The data task: backups, verification, checks and restores of PostgreSQL and SQLite. On AWS it is
 * the command of an ECS Fargate task started by Step Functions (`ecs:runTask.sync`; its image has
 * the PostgreSQL client tools and mounts the EFS volume holding the SQLite files); locally and in
 * tests the very same module runs as a process. Its parameters arrive as SB_* environment
 * variables (container overrides); PGPASSWORD comes from a secret injected by ECS, never from the
 * execution. The outcome goes to `task-results/<env>/<resultKey>.json`, which the `data-result`
 * step reads, so a named error survives the trip through ECS.
 */
import { tmpdir } from 'node:os';
import { S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';
import { S3BlobStore } from '../../functions/shared/adapters/s3-blob-store';
import { S3StreamStore } from '../../functions/shared/adapters/s3-stream-store';
import { loadRuntimeConfig, parseOrThrow, type RuntimeConfig } from '../../functions/shared/config';
import {
  ConfigurationError,
  InvalidInputError,
  RestoreVerificationError,
} from '../../functions/shared/errors';
import { asLog, createLogger } from '../../functions/shared/observability';
import type { BlobStore } from '../../functions/shared/ports';
import {
  BackupId,
  DatabaseName,
  manifestKeyOf,
  objectKeyOf,
  readManifest,
  resolveBackup,
  Store,
} from './manifest';
import {
  backupPostgres,
  checkObject,
  type DataDeps,
  liveRowCounts,
  type PgEnv,
  restorePostgres,
  verifyPostgres,
} from './postgres';
import { backupSqlite, inspectSqlite, restoreSqlite } from './sqlite';

export const TaskCommand = z.discriminatedUnion('command', [
  z.object({
    command: z.literal('backup'),
    store: Store,
    database: DatabaseName,
    backupId: BackupId,
    purpose: z.enum(['manual', 'scheduled', 'pre-change', 'safety']),
    reason: z.string().min(1).max(500),
    executionId: z.string().min(1),
  }),
  z.object({ command: z.literal('verify'), store: Store, database: DatabaseName, backupId: BackupId }),
  z.object({ command: z.literal('check'), store: Store, database: DatabaseName, backupId: BackupId }),
  z.object({ command: z.literal('restore'), store: Store, database: DatabaseName, backupId: BackupId }),
  z.object({ command: z.literal('inspect'), store: Store, database: DatabaseName, backupId: BackupId }),
]);
export type TaskCommand = z.infer<typeof TaskCommand>;

/** A result key: path segments of safe characters, no `..`. */
export const RESULT_KEY = /^(?!.*\.\.)[A-Za-z0-9_.:-]+(\/[A-Za-z0-9_.:-]+)*$/;

export function resultKeyOf(environment: string, resultKey: string): string {
  return `task-results/${environment}/${resultKey}.json`;
}

/** Reads the SB_* variables (ECS container overrides) into a command. */
export function commandFromEnv(env: NodeJS.ProcessEnv): { command: TaskCommand; resultKey: string } {
  const raw = {
    command: env.SB_COMMAND,
    store: env.SB_STORE,
    database: env.SB_DATABASE,
    backupId: env.SB_BACKUP_ID,
    purpose: env.SB_PURPOSE,
    reason: env.SB_REASON,
    executionId: env.SB_EXECUTION_ID,
  };
  const resultKey = env.SB_RESULT_KEY;
  if (!resultKey || resultKey.length > 300 || !RESULT_KEY.test(resultKey))
    throw new InvalidInputError('SB_RESULT_KEY is missing or malformed');
  return { command: parseOrThrow(TaskCommand, raw, InvalidInputError, 'data task command'), resultKey };
}

function pgEnvOf(env: NodeJS.ProcessEnv): PgEnv {
  const out: PgEnv = {};
  for (const k of [
    'PGHOST',
    'PGPORT',
    'PGUSER',
    'PGPASSWORD',
    'PGSSLMODE',
    'PGSSLROOTCERT',
    'PGCONNECT_TIMEOUT',
  ] as const) {
    const v = env[k];
    if (v) out[k] = v;
  }
  return out;
}

function sqlitePath(config: RuntimeConfig, database: string): string {
  const path = config.data?.sqlite.databases[database];
  if (!path)
    throw new ConfigurationError(`No SQLite database "${database}" is configured for ${config.environment}`);
  return path;
}

function requirePostgres(config: RuntimeConfig, database: string): void {
  if (!config.data?.postgres.databases.includes(database)) {
    throw new ConfigurationError(
      `No PostgreSQL database "${database}" is configured for ${config.environment}`,
    );
  }
}

/** Runs one command. Pure over its dependencies; `main` wires the real ones. */
export async function runCommand(
  command: TaskCommand,
  config: RuntimeConfig,
  pg: PgEnv,
  deps: DataDeps,
): Promise<unknown> {
  if (command.store === 'postgres') requirePostgres(config, command.database);
  const path = command.store === 'sqlite' ? sqlitePath(config, command.database) : '';
  switch (command.command) {
    case 'backup': {
      const manifest =
        command.store === 'postgres'
          ? await backupPostgres(command, pg, deps)
          : await backupSqlite({ ...command, path, scratchDir: tmpdir() }, deps);
      return summary(manifest);
    }
    case 'verify': {
      const key = manifestKeyOf(
        objectKeyOf(deps.environment, command.store, command.database, command.backupId),
      );
      const manifest = await readManifest(deps.blobs, key);
      if (!manifest) throw new InvalidInputError(`No backup ${command.backupId} to verify`);
      if (command.store === 'sqlite') return summary(manifest);
      return summary(await verifyPostgres(manifest, pg, deps));
    }
    case 'check': {
      const manifest = await resolveBackup(
        deps.blobs,
        deps.environment,
        command.store,
        command.database,
        command.backupId,
      );
      return { backupId: manifest.backupId, ...(await checkObject(manifest, deps)) };
    }
    case 'inspect': {
      // After a restore and restart: the live target must still hold exactly what the backup holds.
      const manifest = await resolveBackup(
        deps.blobs,
        deps.environment,
        command.store,
        command.database,
        command.backupId,
      );
      const live =
        command.store === 'postgres'
          ? { integrity: 'ok', rowCounts: await liveRowCounts(pg, command.database) }
          : inspectSqlite(path);
      const diff = Object.keys({ ...manifest.rowCounts, ...live.rowCounts }).filter(
        (t) => manifest.rowCounts[t] !== live.rowCounts[t],
      );
      if (live.integrity !== 'ok' || diff.length) {
        throw new RestoreVerificationError(
          `${command.database} after restore: integrity ${live.integrity}; tables differing from backup ${manifest.backupId}: ${diff.join(', ') || 'none'}`,
        );
      }
      return {
        backupId: manifest.backupId,
        database: command.database,
        integrity: live.integrity,
        rowCounts: live.rowCounts,
      };
    }
    case 'restore': {
      const manifest = await resolveBackup(
        deps.blobs,
        deps.environment,
        command.store,
        command.database,
        command.backupId,
      );
      return command.store === 'postgres'
        ? await restorePostgres(manifest, command.database, pg, deps)
        : await restoreSqlite(manifest, path, deps);
    }
  }
}

export function summary(m: import('./manifest').BackupManifest) {
  return {
    backupId: m.backupId,
    store: m.store,
    database: m.database,
    objectKey: m.objectKey,
    sha256: m.sha256,
    sizeBytes: m.sizeBytes,
    rowCounts: m.rowCounts,
    verified: m.verification?.status === 'passed',
  };
}

export async function writeResult(blobs: BlobStore, key: string, result: unknown): Promise<void> {
  await blobs.put(key, `${JSON.stringify(result, null, 2)}\n`, 'application/json');
}

/** The process entry: exit 0 with a result recorded, or 1 with the named error recorded. */
export async function main(env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const logger = createLogger('data-task');
  const log = asLog(logger);
  const config = loadRuntimeConfig(env);
  const s3 = new S3Client({
    maxAttempts: 5,
    // Local rehearsals and tests point this at s3rver; on AWS it is unset.
    ...(env.SB_S3_ENDPOINT
      ? { endpoint: env.SB_S3_ENDPOINT, forcePathStyle: true, region: env.AWS_REGION ?? 'us-east-1' }
      : {}),
  });
  const blobs = new S3BlobStore(s3, config.changeRecords.bucket);
  const deps: DataDeps = {
    environment: config.environment,
    blobs,
    objects: new S3StreamStore(s3, config.changeRecords.bucket),
    clock: { now: () => new Date() },
    log,
  };
  let resultKey: string | undefined;
  try {
    const parsed = commandFromEnv(env);
    resultKey = resultKeyOf(config.environment, parsed.resultKey);
    logger.appendKeys({
      command: parsed.command.command,
      store: parsed.command.store,
      database: parsed.command.database,
    });
    const output = await runCommand(parsed.command, config, pgEnvOf(env), deps);
    await writeResult(blobs, resultKey, { ok: true, output, finishedAt: new Date().toISOString() });
    log.info('data task succeeded');
    return 0;
  } catch (err) {
    const e = err as Error;
    log.error('data task failed', { errorName: e.name, errorMessage: e.message });
    if (resultKey) {
      await writeResult(blobs, resultKey, {
        ok: false,
        error: { name: e.name, message: e.message },
        finishedAt: new Date().toISOString(),
      }).catch(() => undefined);
    }
    return 1;
  } finally {
    s3.destroy();
  }
}

if (require.main === module) {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (err: Error) => {
      console.error(
        JSON.stringify({
          level: 'ERROR',
          message: 'data task crashed',
          errorName: err.name,
          errorMessage: err.message,
        }),
      );
      process.exitCode = 2;
    },
  );
}
