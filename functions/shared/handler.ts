import type { Logger } from '@aws-lambda-powertools/logger';
import { ECSClient } from '@aws-sdk/client-ecs';
import { S3Client } from '@aws-sdk/client-s3';
import { SSMClient } from '@aws-sdk/client-ssm';
import type { Context } from 'aws-lambda';
import type { z } from 'zod';
import { EcsServiceController } from './adapters/ecs-service-controller';
import { S3BlobStore } from './adapters/s3-blob-store';
import { SsmFlagStore } from './adapters/ssm-flag-store';
import { SsmSecretStore } from './adapters/ssm-secret-store';
import { loadRuntimeConfig } from './config';
import { asLog, createLogger } from './observability';
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

/** Wires AWS adapters to the ports. Adapters are cheap objects; clients are shared. */
export function awsDeps(logger: Logger): Deps {
  const config = loadRuntimeConfig();
  logger.appendPersistentKeys({ environment: config.environment });
  const { ssm, ecs, s3 } = awsClients();
  return {
    config,
    flags: new SsmFlagStore(ssm, config.flagPrefix),
    secrets: new SsmSecretStore(ssm),
    services: new EcsServiceController(ecs, config.services.cluster, {
      api: config.services.api,
      sidecar: config.services.sidecar,
    }),
    blobs: new S3BlobStore(s3, config.changeRecords.bucket),
    fetch: globalThis.fetch,
    clock: { now: () => new Date() },
    log: asLog(logger),
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
