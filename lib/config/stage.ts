import { z } from 'zod';
import { describeIssues, type RuntimeConfig } from '../../functions/shared/config';
import {
  AlarmOverrides,
  DecisionMatrix,
  IncidentsConfig,
  MonitoringConfig,
  SEED_DECISION_MATRIX,
} from './alarm-schema';
import { checkDataNetwork, DataConfig, runtimeDataOf } from './data-schema';
import { checkDatabase, DatabaseStageConfig } from './database-schema';
import { DrillsStageConfig } from './drill-schema';
import { FeatureRolloutConfig } from './feature-rollout-schema';
import { checkJournal, JournalStageConfig, protectedServices, watchedParameters } from './journal-schema';

/** CloudWatch Logs retention periods CloudFormation accepts. */
const RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;

const HttpUrl = z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' });

/**
 * One environment Switchback protects, as written in `cdk.json` under `context.switchback.stages`.
 * Every field is validated at synth; a bad value fails `cdk synth` naming the field.
 */
export const StageConfig = z.strictObject({
  name: z
    .string()
    .regex(/^[a-z][a-z0-9-]{1,23}$/, 'lowercase letters, digits and "-", 2-24 characters')
    .describe('Short environment name: part of every resource and parameter name, so stages never clash.'),
  account: z
    .string()
    .regex(/^\d{12}$/, '12 digits')
    .optional()
    .describe('AWS account the stack deploys to. Absent: the account of the deploying credentials.'),
  region: z
    .string()
    .regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'an AWS region such as eu-west-1')
    .optional()
    .describe('AWS region the stack deploys to. Absent: the region of the deploying credentials.'),
  parameterPrefix: z
    .string()
    .regex(/^(\/[A-Za-z0-9_.-]+)+$/, 'an SSM path such as /switchback/prod')
    .optional()
    .describe('SSM prefix of the flags. Default: `/switchback/<name>`.'),
  services: z
    .strictObject({
      cluster: z.string().min(1).describe('ECS cluster running the memory stack.'),
      api: z.string().min(1).describe('ECS service of the API.'),
      sidecar: z.string().min(1).describe('ECS service of the mem0-style sidecar.'),
    })
    .describe('The ECS cluster and services of the protected memory stack.'),
  endpoints: z
    .strictObject({
      apiBaseUrl: HttpUrl.describe(
        'Base URL of the API, reachable from the step functions (`/health`, `/memories`).',
      ),
      sidecarBaseUrl: HttpUrl.describe(
        'Base URL of the sidecar (`/health`, `/remember`, `/recall`). Also the default `memory/http-base`.',
      ),
    })
    .describe('Where the steps reach the API and the sidecar.'),
  secrets: z
    .strictObject({
      sidecarApiKeyParameter: z
        .string()
        .regex(/^(\/[A-Za-z0-9_.-]+)+$/)
        .optional()
        .describe(
          "SecureString parameter with the sidecar's API key (bearer token). Only its name is ever handled.",
        ),
    })
    .default({})
    .describe('Names of the secrets the steps use (never their values).'),
  network: z
    .strictObject({
      vpcId: z
        .string()
        .regex(/^vpc-[0-9a-f]+$/)
        .describe('The VPC of the subnets.'),
      availabilityZones: z.array(z.string()).min(1).describe('The availability zones of the subnets.'),
      subnetIds: z
        .array(z.string().regex(/^subnet-[0-9a-f]+$/))
        .min(1)
        .describe(
          'Private subnets with a route to the endpoints and to CloudWatch, SSM and S3 (NAT or VPC endpoints).',
        ),
      securityGroupIds: z
        .array(z.string().regex(/^sg-[0-9a-f]+$/))
        .min(1)
        .describe('Security groups of the functions; the endpoints must accept them.'),
    })
    .optional()
    .describe(
      'Subnets and security groups for the functions that call the API and sidecar (private endpoints).',
    ),
  notifications: z
    .strictObject({
      emails: z
        .array(z.email())
        .default([])
        .describe('Addresses subscribed to the notification topic (they confirm by mail).'),
    })
    .default({ emails: [] })
    .describe('Who hears about procedures and alarms (one SNS topic per stage).'),
  backups: z
    .strictObject({
      noncurrentVersionDays: z
        .number()
        .int()
        .min(1)
        .max(3650)
        .default(90)
        .describe('Days an overwritten or deleted object version is kept.'),
      abortIncompleteUploadDays: z
        .number()
        .int()
        .min(1)
        .max(30)
        .default(2)
        .describe('Days before incomplete multipart uploads are aborted.'),
      none: z
        .string()
        .trim()
        .min(10, 'say why this stage takes no backups (at least 10 characters)')
        .optional()
        .describe(
          'Why this stage takes no backups (it has no `data` section). Seed 000 says always back up before a cutover, so a stage without `data` is refused unless this says why. Default: none: a stage without `data` is refused.',
        ),
    })
    .default({ noncurrentVersionDays: 90, abortIncompleteUploadDays: 2 })
    .describe("The backup bucket's lifecycle, and a stage's reason to take no backups."),
  timing: z
    .strictObject({
      stabilityPollSeconds: z
        .number()
        .int()
        .min(1)
        .max(300)
        .default(15)
        .describe('Seconds between two checks that the ECS services are stable.'),
      stabilityMaxAttempts: z
        .number()
        .int()
        .min(1)
        .max(200)
        .default(40)
        .describe('Checks before a service that is not stable fails the step.'),
      httpTimeoutMs: z
        .number()
        .int()
        .min(100)
        .max(60_000)
        .default(5_000)
        .describe('Timeout of each HTTP request to the API and the sidecar (health, smoke test).'),
    })
    .default({ stabilityPollSeconds: 15, stabilityMaxAttempts: 40, httpTimeoutMs: 5_000 })
    .describe('How long the steps wait for services and endpoints.'),
  logRetentionDays: z
    .number()
    .refine((d) => (RETENTION_DAYS as readonly number[]).includes(d), {
      message: `one of ${RETENTION_DAYS.join(', ')}`,
    })
    .default(90)
    .describe(`Days the functions' and state machines' logs are kept: one of ${RETENTION_DAYS.join(', ')}.`),
  data: DataConfig.optional().describe(
    'Backups and restores of PostgreSQL and SQLite (lib/config/data-schema.ts). Absent: none deployed.',
  ),
  monitoring: MonitoringConfig.prefault({}).describe(
    "Where the alarms read their metrics (ALB target group, the app's namespace, the health probe).",
  ),
  decisionMatrix: DecisionMatrix.default([...SEED_DECISION_MATRIX]).describe(
    "Seed 004's decision matrix: issue type x severity -> config / code / data rollback, or none.",
  ),
  alarms: AlarmOverrides.default({}).describe(
    'Overrides of the seed alarms by id (see lib/config/alarm-schema.ts); `null` drops one.',
  ),
  incidents: IncidentsConfig.prefault({}).describe(
    'How the rollback router handles alarms (detection budget, cool-down, settle time).',
  ),
  featureRollout: FeatureRolloutConfig.prefault({}).describe(
    "Seed 003's phased feature rollout: where its gate reads each signal, which alarms are P0.",
  ),
  database: DatabaseStageConfig.optional().describe(
    "Seed 002's database cutover, Qdrant -> pgvector (lib/config/database-schema.ts). Absent: not deployed.",
  ),
  journal: JournalStageConfig.prefault({}).describe(
    'The change journal, the watched app parameters and the bake period (lib/config/journal-schema.ts).',
  ),
  drills: DrillsStageConfig.prefault({}).describe(
    'Rollback drills through the real detection path (lib/config/drill-schema.ts); none allowed by default.',
  ),
});
export type StageConfig = z.infer<typeof StageConfig>;

export const SwitchbackContext = z.strictObject({
  stages: z.array(z.unknown()).min(1, 'at least one stage'),
});

export class StageConfigError extends Error {
  override readonly name = 'StageConfigError';
}

/** Validates one stage; the error names the stage and every bad field. */
export function parseStage(raw: unknown, where = 'stage'): StageConfig {
  const parsed = StageConfig.superRefine(checkDataNetwork)
    .superRefine(checkDatabase)
    .superRefine(checkJournal)
    .safeParse(raw);
  if (!parsed.success) {
    const name =
      typeof raw === 'object' && raw !== null && 'name' in raw
        ? `"${String((raw as { name: unknown }).name)}"`
        : where;
    throw new StageConfigError(`Invalid Switchback stage ${name}: ${describeIssues(parsed.error)}`);
  }
  return parsed.data;
}

/** Validates `context.switchback` and every stage in it; stage names must be unique. */
export function parseStages(context: unknown): StageConfig[] {
  const parsed = SwitchbackContext.safeParse(context);
  if (!parsed.success) {
    throw new StageConfigError(`Invalid context "switchback" in cdk.json: ${describeIssues(parsed.error)}`);
  }
  const stages = parsed.data.stages.map((s, i) => parseStage(s, `stages[${i}]`));
  const seen = new Set<string>();
  for (const s of stages) {
    if (seen.has(s.name))
      throw new StageConfigError(`Invalid Switchback stages: name "${s.name}" appears twice`);
    seen.add(s.name);
  }
  return stages;
}

export function parameterPrefix(stage: StageConfig): string {
  return stage.parameterPrefix ?? `/switchback/${stage.name}`;
}

/** Key prefix of change records in the backup bucket. */
export function changeRecordPrefix(stage: StageConfig): string {
  return `change-records/${stage.name}`;
}

/** The runtime configuration every step function receives (names and URLs only, never secrets). */
export function toRuntimeConfig(
  stage: StageConfig,
  bucketName: string,
  journalTable?: string,
): RuntimeConfig {
  return {
    environment: stage.name,
    flagPrefix: parameterPrefix(stage),
    endpoints: { api: stage.endpoints.apiBaseUrl, sidecar: stage.endpoints.sidecarBaseUrl },
    services: { ...stage.services },
    changeRecords: { bucket: bucketName, prefix: changeRecordPrefix(stage) },
    secrets: { ...stage.secrets },
    ...runtimeDataOf(stage),
    ...(stage.database ? { database: stage.database } : {}),
    ...(journalTable
      ? {
          journal: {
            table: journalTable,
            retentionDays: stage.journal.retentionDays,
            bakeMinutes: stage.journal.bakeMinutes,
            services: protectedServices(stage),
            watched: watchedParameters(stage),
          },
        }
      : {}),
    drills: {
      kinds: [...stage.drills.kinds],
      alarm: stage.drills.alarm,
      pollSeconds: stage.drills.pollSeconds,
      polls: stage.drills.polls,
    },
    timing: { ...stage.timing },
  };
}
