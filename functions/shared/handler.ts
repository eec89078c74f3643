import type { Logger } from '@aws-lambda-powertools/logger';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ECSClient } from '@aws-sdk/client-ecs';
import { S3Client } from '@aws-sdk/client-s3';
import { SSMClient } from '@aws-sdk/client-ssm';
import type { Context } from 'aws-lambda';
import type { z } from 'zod';
import { CloudWatchAlarmControl } from './adapters/cloudwatch-alarm-control';
import { CloudWatchAlarmHistory } from './adapters/cloudwatch-alarm-history';
import { CloudWatchMetricsSink } from './adapters/cloudwatch-metrics-sink';
import { CloudWatchMetricsSource } from './adapters/cloudwatch-metrics-source';
import { DynamoJournalStore } from './adapters/dynamodb-journal-store';
import { EcsDeploymentHistory } from './adapters/ecs-deployment-history';
import { EcsServiceController } from './adapters/ecs-service-controller';
import { S3BlobStore } from './adapters/s3-blob-store';
import { S3StreamStore } from './adapters/s3-stream-store';
import { SsmFlagStore } from './adapters/ssm-flag-store';
import { SsmParameterHistory } from './adapters/ssm-parameter-history';
import { SsmSecretStore } from './adapters/ssm-secret-store';
import { SsmWatchedParameters } from './adapters/ssm-watched-parameters';
import { RealDatabaseConnector } from './adapters/vector-stores';
import { ALARM_CATALOG_ENV, type AlarmCatalog, loadAlarmCatalog } from './alarm-catalog';
import { loadRuntimeConfig } from './config';
import { GATE_METRICS_ENV, loadGateMetricsSpec } from './gate-metrics';
import { METRICS_NAMESPACE } from './metrics';
import { asLog, createLogger } from './observability';
import type { Clock } from './ports';
import { type Deps, invokeStep, type Step } from './step';

/** SDK clients are created once per container, on first use, with the SDK's own retry. */
let clients: { ssm: SSMClient; ecs: ECSClient; s3: S3Client } | undefined;
function awsClients() {
  clients ??= {
    ssm: new SSMClient({ maxAttempts: 5 }),
    ecs: new ECSClient({ maxAttempts: 5 }),
    s3: new S3Client({ maxAttempts: 5 }),
  };
  return clients;
}

/** Qdrant clients and pg pools, kept across invocations; created on first use by a database step. */
let databases: RealDatabaseConnector | undefined;

/** Only the functions that publish metrics, or read metrics or alarm history, create this client. */
let cloudwatch: CloudWatchClient | undefined;
function cloudwatchClient(): CloudWatchClient {
  cloudwatch ??= new CloudWatchClient({ maxAttempts: 5 });
  return cloudwatch;
}

/** Only the functions that write the change journal create this client. */
let dynamo: DynamoDBClient | undefined;

/**
 * The change journal, the histories it resolves events with, the watched parameters (config
 * rollback) and, for a function given the alarm catalog, the rollback alarms' history (LKG).
 */
function journalDeps(
  table: string,
  clients: { ssm: SSMClient; ecs: ECSClient },
  cluster: string,
  alarms: AlarmCatalog | undefined,
  clock: Clock,
) {
  dynamo ??= new DynamoDBClient({ maxAttempts: 5 });
  return {
    journal: new DynamoJournalStore(dynamo, table),
    deployments: new EcsDeploymentHistory(clients.ecs, cluster),
    parameterHistory: new SsmParameterHistory(clients.ssm),
    watched: new SsmWatchedParameters(clients.ssm),
    ...(alarms ? { alarmHistory: new CloudWatchAlarmHistory(cloudwatchClient(), alarms, clock) } : {}),
  };
}

/** The rollout gate's CloudWatch reader, sharing the one CloudWatch client. */
function gateMetricsSource(): CloudWatchMetricsSource {
  return new CloudWatchMetricsSource(cloudwatchClient(), loadGateMetricsSpec());
}

/** Wires AWS adapters to the ports. Adapters are cheap objects; clients are shared. */
export function awsDeps(logger: Logger): Deps {
  const config = loadRuntimeConfig();
  logger.appendPersistentKeys({ environment: config.environment });
  const { ssm, ecs, s3 } = awsClients();
  const alarms = process.env[ALARM_CATALOG_ENV] ? loadAlarmCatalog() : undefined;
  const clock: Clock = { now: () => new Date() };
  return {
    config,
    flags: new SsmFlagStore(ssm, config.flagPrefix),
    secrets: new SsmSecretStore(ssm),
    services: new EcsServiceController(ecs, config.services.cluster, {
      api: config.services.api,
      sidecar: config.services.sidecar,
    }),
    blobs: new S3BlobStore(s3, config.changeRecords.bucket),
    objects: new S3StreamStore(s3, config.changeRecords.bucket),
    fetch: globalThis.fetch,
    clock,
    log: asLog(logger),
    // Lazily: a step that never publishes never creates the client.
    get metrics() {
      return new CloudWatchMetricsSink(cloudwatchClient(), METRICS_NAMESPACE);
    },
    // Lazily: only the drill step sets alarm states (its role alone may).
    get alarmControl() {
      cloudwatch ??= new CloudWatchClient({ maxAttempts: 5 });
      return new CloudWatchAlarmControl(cloudwatch);
    },
    // Lazily, like metrics: only the database cutover's steps open connections.
    get databases() {
      databases ??= new RealDatabaseConnector();
      return databases;
    },
    // The change journal and what reads with it (journal configured only).
    ...(config.journal
      ? journalDeps(config.journal.table, { ssm, ecs }, config.services.cluster, alarms, clock)
      : {}),
    ...(alarms ? { alarms } : {}),
    // Only the rollout gate is configured with metrics to read.
    ...(process.env[GATE_METRICS_ENV] ? { metricsSource: gateMetricsSource() } : {}),
  };
}

/**
 * The Lambda entry point for a step: validates the event, runs the step, and lets named errors
 * propagate unchanged so Step Functions sees `errorType` = the error's name. The event itself is
 * never logged (it may name resources an attacker would like to know; it never holds secrets).
 */
export function makeHandler<S extends z.ZodType, R>(step: Step<S, R>) {
  const log = createLogger(step.name);
  let deps: Deps | undefined;
  return async (event: unknown, context?: Context): Promise<R> => {
    deps ??= awsDeps(log);
    if (context) log.addContext(context);
    try {
      const result = await invokeStep(step, event, deps);
      log.info('step succeeded');
      return result;
    } catch (err) {
      const e = err as Error;
      log.error('step failed', { errorName: e.name, errorMessage: e.message });
      throw err;
    }
  };
}
