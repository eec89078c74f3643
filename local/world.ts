import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import pg from 'pg';
import { journal as journalStep } from '../functions/journal/journal';
import { DynamoJournalStore } from '../functions/shared/adapters/dynamodb-journal-store';
import { S3BlobStore } from '../functions/shared/adapters/s3-blob-store';
import { S3StreamStore } from '../functions/shared/adapters/s3-stream-store';
import { RealDatabaseConnector } from '../functions/shared/adapters/vector-stores';
import type { RuntimeConfig } from '../functions/shared/config';
import { DatabaseRuntimeConfig } from '../functions/shared/database-config';
import type { DrillRuntimeConfig } from '../functions/shared/drill-config';
import { flagParameterName, initialFlagValues } from '../functions/shared/flags';
import { MEMORY_CONTEXT_FLAG } from '../functions/shared/memory-context';
import type { MetricsSource } from '../functions/shared/ports';
import { type Deps, invokeStep } from '../functions/shared/step';
import type { IncidentsConfig } from '../lib/config/alarm-schema';
import { JournalStageConfig, protectedServices, watchedParameters } from '../lib/config/journal-schema';
import { LocalAlarmHistory } from './adapters/alarm-history';
import { FileParameterStore, parameterHistoryOf, secretsOf, watchedOf } from './adapters/file-flag-store';
import { LocalDynamo } from './adapters/lock-table';
import { ProcessSupervisor } from './adapters/process-supervisor';
import { RecordingLog } from './adapters/recording-log';
import { RecordingMetrics } from './adapters/recording-metrics';
import { ScriptedMetricsSource } from './adapters/scripted-metrics';
import { localAlarmCatalog } from './alarm-catalog';
import { alarmStateChange } from './alarm-event';
import { ecsDeploymentEvent, parameterStoreEvent } from './change-events';
import { buildDataTask, dataTaskIntegration } from './data-task';
import { type EngineOptions, LocalEngine } from './engine';
import { ThrowawayPostgres } from './postgres';
import { buildReferenceStack } from './reference-stack/build';
import { LocalS3 } from './s3';

export interface WorldOptions {
  /** Directory for the rehearsal's state: parameters, "S3" objects, process logs, data files. */
  readonly dir: string;
  readonly environment?: string;
  /** The sidecar's API key (a secret: it must never show up in any output). Random by default. */
  readonly sidecarApiKey?: string;
  readonly timing?: Partial<RuntimeConfig['timing']>;
  readonly engine?: Pick<
    EngineOptions,
    | 'faults'
    | 'hooks'
    | 'onEvent'
    | 'onTaskResult'
    | 'waitOverrideMs'
    | 'retryIntervalMs'
    | 'substitutions'
    | 'integrations'
  >;
  /**
   * Start a throwaway PostgreSQL 15 cluster with a `memory` database and make the data stores
   * (PostgreSQL `memory`, the API's SQLite store `memory`) backup-able and restorable.
   */
  readonly postgres?: boolean;
  /** How the rollback router handles incidents here (cool-down, change age, settle time). */
  readonly incidents?: Partial<IncidentsConfig>;
  /** Stage `alarms` overrides for the router's catalog (see lib/config/alarm-schema.ts). */
  readonly alarms?: Record<string, unknown>;
  /** What rollout gates read; a healthy scripted source by default. */
  readonly metricsSource?: MetricsSource;
  /** How long the API caches the feature flag it reads per request (ms). @default 1000 */
  readonly featureFlagCacheMs?: number;
  /**
   * A database cutover (seed 002): its runtime section, and the SecureString parameters it names
   * (connection URLs, the Qdrant API key) with their values. Storage defaults to an s3rver bucket.
   */
  readonly database?: {
    readonly config: DatabaseRuntimeConfig | Record<string, unknown>;
    readonly secrets: Readonly<Record<string, string>>;
  };
  /** Rollback drills: overrides of the world's (config kind, s004-error-rate, 1 s polls, 60 of them). */
  readonly drills?: Partial<DrillRuntimeConfig>;
  /** Minutes a state must bake to be last known good (the stage's `journal.bakeMinutes`). @default 30 */
  readonly bakeMinutes?: number;
}

/** Seed 001's switches as they stand before any change (caching and autonomous mode off, 4 workers). */
const INITIAL_WATCHED: Readonly<Record<string, string>> = {
  ENABLE_CACHING: 'false',
  AUTONOMOUS_MODE: 'false',
  WORKERS: '4',
  MARKER: 'false',
};

const LOCAL_ACCOUNT = '000000000000';
const LOCAL_REGION = 'local-1';

/**
 * Everything a local run needs, started for real: the reference memory stack (API + sidecar as
 * supervised processes), SSM-like parameters in a file, S3-like objects in a directory, DynamoDB
 * (dynalite) for the lock, and the engine that runs the ASL files against them.
 */
export class World {
  private constructor(
    readonly dir: string,
    readonly config: RuntimeConfig,
    readonly parameters: FileParameterStore,
    readonly blobs: S3BlobStore,
    readonly services: ProcessSupervisor,
    readonly dynamo: LocalDynamo,
    readonly logs: RecordingLog,
    readonly engine: LocalEngine,
    readonly lockTable: string,
    readonly sidecarApiKeyParameter: string,
    readonly s3: LocalS3,
    readonly objects: S3StreamStore,
    readonly postgres: ThrowawayPostgres | undefined,
    /** What the steps published to "CloudWatch" (probe availability, recovery times). */
    readonly metrics: RecordingMetrics,
    /** Qdrant clients and pg pools of the database cutover's steps. */
    readonly databases: RealDatabaseConnector,
    /** The change journal (dynalite), fed by the world's own ECS and Parameter Store events. */
    readonly journal: DynamoJournalStore,
    private readonly journalDeliveries: Promise<unknown>[],
    /** CloudWatch's alarm history of the rollback alarms, as the last known good reads it. */
    readonly alarmHistory: LocalAlarmHistory,
  ) {}

  static async start(options: WorldOptions): Promise<World> {
    const environment = options.environment ?? 'rehearsal';
    const dir = options.dir;
    mkdirSync(dir, { recursive: true });
    const [apiPort, sidecarPort] = [await freePort(), await freePort()];
    const prefix = `/switchback/${environment}`;
    const sidecarApiKeyParameter = `${prefix}/secrets/sidecar-api-key`;
    const config: RuntimeConfig = {
      environment,
      flagPrefix: prefix,
      endpoints: { api: `http://127.0.0.1:${apiPort}`, sidecar: `http://127.0.0.1:${sidecarPort}` },
      services: { cluster: `local-${environment}`, api: 'memory-api', sidecar: 'memory-sidecar' },
      changeRecords: { bucket: `switchback-${environment}-backups`, prefix: `change-records/${environment}` },
      secrets: { sidecarApiKeyParameter },
      timing: { stabilityPollSeconds: 1, stabilityMaxAttempts: 8, httpTimeoutMs: 2_000, ...options.timing },
    };

    const parameters = new FileParameterStore(join(dir, 'ssm-parameters.json'), prefix);
    const initial = initialFlagValues({
      sidecarBaseUrl: config.endpoints.sidecar,
      databaseConnection: (options.database?.config as { source?: { connection?: string } } | undefined)
        ?.source?.connection,
    });
    for (const [name, value] of Object.entries(initial)) {
      parameters.putParameter(flagParameterName(prefix, name as never), value, 'String');
    }
    const apiKey = options.sidecarApiKey ?? `sk-rehearsal-${randomBytes(12).toString('hex')}`;
    parameters.putParameter(sidecarApiKeyParameter, apiKey, 'SecureString');
    for (const [name, value] of Object.entries(options.database?.secrets ?? {}))
      parameters.putParameter(name, value, 'SecureString');
    const secrets = secretsOf(parameters);

    const scripts = await buildReferenceStack(join(dir, 'build'));
    const apiDataFile = join(dir, 'data', 'api-native-memories.sqlite');
    mkdirSync(join(dir, 'data'), { recursive: true });
    mkdirSync(join(dir, 'logs'), { recursive: true });
    // Seed 001's watched parameters a service reads at start (`.env`): ENABLE_CACHING, AUTONOMOUS_MODE, WORKERS.
    const watchedEnvironment = async (service: string): Promise<Record<string, string>> => {
      const out: Record<string, string> = {};
      for (const [key, p] of Object.entries(config.journal?.watched ?? {})) {
        if (!p.readers.some((r) => r.service === service && r.reads === 'at-start')) continue;
        const value = (await parameters.versions(p.name)).at(-1)?.value;
        if (value !== null && value !== undefined) out[key.split('/').pop() ?? key] = value;
      }
      return out;
    };
    const services = new ProcessSupervisor({
      sidecar: {
        script: scripts.sidecar,
        healthUrl: `${config.endpoints.sidecar}/health`,
        logFile: join(dir, 'logs', 'sidecar.log'),
        environment: async () => ({
          PORT: String(sidecarPort),
          DATA_FILE: join(dir, 'data', 'sidecar-memories.sqlite'),
          SIDECAR_API_KEY: await secrets.get(sidecarApiKeyParameter),
          ...(await watchedEnvironment('sidecar')),
        }),
      },
      api: {
        script: scripts.api,
        healthUrl: `${config.endpoints.api}/health`,
        logFile: join(dir, 'logs', 'api.log'),
        // As an ECS task reads SSM parameters at start: flags become the API's environment.
        environment: async () => ({
          PORT: String(apiPort),
          DATA_FILE: apiDataFile,
          MEMORY_PROVIDER: (await parameters.get('memory/provider')).value,
          MEMORY_HTTP_BASE: (await parameters.get('memory/http-base')).value,
          MAINTENANCE_MODE: (await parameters.get('maintenance-mode')).value,
          // Seed 002: the connection the API uses (its URL comes from the secret that name points to).
          DATABASE_ACTIVE: (await parameters.get('database/active')).value,
          SIDECAR_API_KEY: await secrets.get(sidecarApiKeyParameter),
          // Seed 003's feature flag is read per request (through a short cache), not at start.
          FEATURE_FLAG_FILE: parameters.path,
          MEMORY_CONTEXT_FLAG_PARAMETER: flagParameterName(prefix, MEMORY_CONTEXT_FLAG),
          FEATURE_FLAG_CACHE_MS: String(options.featureFlagCacheMs ?? 1_000),
          ...(await watchedEnvironment('api')),
        }),
      },
    });

    const s3 = await LocalS3.start(join(dir, 's3'), [
      config.changeRecords.bucket,
      ...(options.database ? ['attachments'] : []),
    ]);
    if (options.database) {
      config.database = DatabaseRuntimeConfig.parse({
        storageUrl: `${s3.endpoint}/attachments`,
        ...options.database.config,
      });
    }
    const databases = new RealDatabaseConnector({ poolSize: 4, timeoutMs: 10_000 });
    const blobs = new S3BlobStore(s3.client, config.changeRecords.bucket);
    const objects = new S3StreamStore(s3.client, config.changeRecords.bucket);
    const postgres = options.postgres ? await ThrowawayPostgres.start({ database: 'memory' }) : undefined;
    if (postgres) await createMemoryDatabase(postgres);
    config.data = {
      postgres: { databases: postgres ? ['memory'] : [] },
      sqlite: { databases: { memory: apiDataFile } },
      network: { subnets: ['subnet-local'], securityGroups: ['sg-local'], assignPublicIp: 'DISABLED' },
      writers: ['api'],
    };
    const dataTask = dataTaskIntegration({
      script: await buildDataTask(join(dir, 'build')),
      config,
      environment: () => ({ ...s3.processEnv(), ...(postgres ? postgres.env() : {}) }),
      logFile: join(dir, 'logs', 'data-task.log'),
    });
    const dynamo = await LocalDynamo.start();
    const lockTable = `switchback-${environment}-locks`;
    await dynamo.createLockTable(lockTable);
    // The change journal: the same table shape, step and resolution as on AWS.
    const journalTable = `switchback-${environment}-journal`;
    await dynamo.createJournalTable(journalTable);
    const journal = new DynamoJournalStore(dynamo.client, journalTable);
    const stageJournal = {
      name: environment,
      services: config.services,
      journal: JournalStageConfig.parse({ bakeMinutes: options.bakeMinutes ?? 30 }),
    };
    config.journal = {
      table: journalTable,
      retentionDays: stageJournal.journal.retentionDays,
      bakeMinutes: stageJournal.journal.bakeMinutes,
      services: protectedServices(stageJournal),
      watched: watchedParameters(stageJournal),
    };
    // Rollback drills of kind config, through the local SetAlarmState -> EventBridge -> router path.
    config.drills = {
      kinds: ['config'],
      alarm: 's004-error-rate',
      pollSeconds: 1,
      polls: 60,
      ...options.drills,
    };
    for (const [key, p] of Object.entries(config.journal.watched)) {
      parameters.putParameter(p.name, INITIAL_WATCHED[key.split('/').pop() ?? ''] ?? 'false', 'String');
    }
    const logs = new RecordingLog();
    const metrics = new RecordingMetrics();
    // The engine starts the router for a drill's SetAlarmState; it exists once the deps do.
    const engineRef: { current?: LocalEngine } = {};
    const routerRuns: Promise<unknown>[] = [];
    // As if the stack had served one bake period with no rollback alarm before the world started.
    const alarmHistory = new LocalAlarmHistory(
      new Date(Date.now() - stageJournal.journal.bakeMinutes * 60_000),
    );
    const deps: Omit<Deps, 'log'> = {
      config,
      flags: parameters,
      secrets,
      services,
      blobs,
      objects,
      fetch: globalThis.fetch,
      clock: { now: () => new Date() },
      metrics,
      alarms: localAlarmCatalog(environment, options.incidents, options.alarms),
      metricsSource: options.metricsSource ?? new ScriptedMetricsSource(),
      databases,
      journal,
      deployments: services.deploymentHistory,
      parameterHistory: parameterHistoryOf(parameters),
      watched: watchedOf(parameters),
      alarmHistory,
      // SetAlarmState as CloudWatch and EventBridge answer it: the state recorded in the alarm
      // history, and an ALARM delivered to the rollback router (the rule's target), asynchronously.
      alarmControl: {
        setState: async (name, state, reason) => {
          alarmHistory.record(name, state);
          if (state !== 'ALARM') return;
          const event = alarmStateChange(name, { state, reason });
          routerRuns.push(engineRef.current?.run('rollback-router', event) ?? Promise.resolve());
        },
      },
    };
    // As EventBridge would: every parameter write and deployment state change, in AWS's shapes,
    // to the journal step (watched or protected or not: the step decides, as on AWS).
    const deliveries: Promise<unknown>[] = [];
    const deliver = (event: unknown) => {
      const log = logs.forStep('journal');
      deliveries.push(
        invokeStep(journalStep, event, { ...deps, log }).catch((err: Error) =>
          log.error('journal delivery failed', { errorName: err.name, errorMessage: err.message }),
        ),
      );
    };
    const origin = { account: LOCAL_ACCOUNT, region: LOCAL_REGION };
    parameters.listeners.push((c) =>
      deliver(
        parameterStoreEvent({
          ...origin,
          id: randomUUID(),
          time: c.at.toISOString(),
          name: c.name,
          type: c.type,
          operation: c.operation,
        }),
      ),
    );
    services.listeners.push((c) =>
      deliver(
        ecsDeploymentEvent({
          ...origin,
          id: randomUUID(),
          time: c.at.toISOString(),
          cluster: config.services.cluster,
          service: config.services[c.service],
          deploymentId: c.deploymentId,
          eventName:
            c.state === 'COMPLETED' ? 'SERVICE_DEPLOYMENT_COMPLETED' : 'SERVICE_DEPLOYMENT_IN_PROGRESS',
        }),
      ),
    );
    const engine = new LocalEngine({
      environment,
      lockTable,
      dynamo,
      logs,
      deps,
      retryIntervalMs: 0,
      ...options.engine,
      integrations: [dataTask, ...(options.engine?.integrations ?? [])],
      substitutions: {
        DataTaskClusterArn: `arn:aws:ecs:local-1:000000000000:cluster/local-${environment}`,
        DataTaskDefinitionArn: `arn:aws:ecs:local-1:000000000000:task-definition/switchback-${environment}-data-task:1`,
        ...options.engine?.substitutions,
      },
    });
    engineRef.current = engine;
    const world = new World(
      dir,
      config,
      parameters,
      blobs,
      services,
      dynamo,
      logs,
      engine,
      lockTable,
      sidecarApiKeyParameter,
      s3,
      objects,
      postgres,
      metrics,
      databases,
      journal,
      deliveries,
      alarmHistory,
    );
    try {
      await services.start('sidecar');
      await services.start('api');
    } catch (err) {
      await world.close();
      throw err;
    }
    return world;
  }

  /** What the API really serves: its own health report (provider, maintenance). */
  async apiHealth(): Promise<{ status: number; body: Record<string, unknown> }> {
    const res = await fetch(`${this.config.endpoints.api}/health`, { signal: AbortSignal.timeout(2_000) });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  /**
   * A rollback alarm of this environment changing state (ALARM by default) now: recorded in the
   * alarm history the last known good reads, and returned as the EventBridge event that starts
   * the rollback router.
   */
  alarmEvent(id: string, options: Parameters<typeof alarmStateChange>[1] = {}) {
    const name = `switchback-${this.config.environment}-${id}`;
    const at = options.at ?? new Date();
    this.alarmHistory.record(name, options.state ?? 'ALARM', at);
    return alarmStateChange(name, { ...options, at });
  }

  /** Every journal entry of the environment, oldest first, once the events so far are delivered. */
  async journalEntries() {
    while (this.journalDeliveries.length) await Promise.all(this.journalDeliveries.splice(0));
    return this.journal.list(this.config.environment);
  }

  async lock(): Promise<Record<string, string> | undefined> {
    return this.dynamo.getLock(this.lockTable, this.config.environment);
  }

  async close(): Promise<void> {
    await this.services.close();
    await Promise.all(this.journalDeliveries.splice(0));
    await this.dynamo.close();
    await this.s3.close();
    await this.postgres?.stop();
    await this.databases.close();
  }
}

/** The PostgreSQL side of the reference stack: a `memory` database with memories and their embeddings' metadata. */
async function createMemoryDatabase(postgres: ThrowawayPostgres): Promise<void> {
  const admin = new pg.Client({ ...postgres.connection, database: 'postgres' });
  await admin.connect();
  await admin.query('CREATE DATABASE memory');
  await admin.end();
  const client = new pg.Client({ ...postgres.connection, database: 'memory' });
  await client.connect();
  try {
    await client.query(`
      CREATE TABLE organisations (id text PRIMARY KEY, name text NOT NULL);
      CREATE TABLE memory_fragments (
        id bigserial PRIMARY KEY,
        organisation_id text NOT NULL REFERENCES organisations(id),
        text text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      );
      INSERT INTO organisations VALUES ('org-a', 'Org A'), ('org-b', 'Org B');
      INSERT INTO memory_fragments (organisation_id, text)
        SELECT CASE WHEN i % 2 = 0 THEN 'org-a' ELSE 'org-b' END, 'reference memory ' || i
        FROM generate_series(1, 200) AS i;
    `);
  } finally {
    await client.end();
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}
