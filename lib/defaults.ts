import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { AttributeType, BillingMode, TableEncryption, type TableProps } from 'aws-cdk-lib/aws-dynamodb';
import type { KeyProps } from 'aws-cdk-lib/aws-kms';
import { Architecture, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import { type BundlingOptions, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { BlockPublicAccess, BucketEncryption, type BucketProps, ObjectOwnership } from 'aws-cdk-lib/aws-s3';
import { LogLevel } from 'aws-cdk-lib/aws-stepfunctions';

/**
 * Secure defaults, as data, in one place. Constructs spread these first and let only what the
 * stage configuration decides (retention days, lifecycle days) vary. Changing a value here changes
 * every environment, so each carries the reason it is what it is.
 */

/**
 * Feature flags the constructs rely on, frozen here so a CDK upgrade cannot flip them silently.
 * `cdk.json` context still wins over these.
 */
export const FEATURE_FLAGS: Readonly<Record<string, unknown>> = {
  /** Server access logs are delivered through a bucket policy, not the legacy LogDeliveryWrite ACL. */
  '@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy': true,
  '@aws-cdk/aws-s3:createDefaultLoggingPolicy': true,
};

/**
 * The backup bucket: versioned (an overwritten or deleted backup stays recoverable), KMS-encrypted
 * with a customer managed key (backups hold users' memories: the key policy is a second lock and
 * every decrypt is in CloudTrail), TLS only, never public, ACLs off, kept when the stack goes.
 */
export const BACKUP_BUCKET_DEFAULTS = {
  versioned: true,
  encryption: BucketEncryption.KMS,
  bucketKeyEnabled: true,
  enforceSSL: true,
  minimumTLSVersion: 1.2,
  blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
  objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
  removalPolicy: RemovalPolicy.RETAIN,
} as const satisfies BucketProps;

/**
 * The server access log bucket. S3 can only deliver access logs to an SSE-S3 bucket (not SSE-KMS).
 * It is not itself logged: logging it to itself would loop, and to a third bucket would only move
 * the question.
 */
export const ACCESS_LOG_BUCKET_DEFAULTS = {
  versioned: true,
  encryption: BucketEncryption.S3_MANAGED,
  enforceSSL: true,
  minimumTLSVersion: 1.2,
  blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
  objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
  removalPolicy: RemovalPolicy.RETAIN,
} as const satisfies BucketProps;

/** Customer managed keys rotate yearly; a deleted stack keeps its keys (data may still need them). */
export const KEY_DEFAULTS = {
  enableKeyRotation: true,
  removalPolicy: RemovalPolicy.RETAIN,
} as const satisfies KeyProps;

/** The lock table's TTL attribute: epoch seconds, set on incident items only (never on a lock). */
export const LOCK_TABLE_TTL_ATTRIBUTE = 'expiresAt';

/**
 * The lock table: on-demand (a handful of writes per change), point-in-time recovery, encrypted
 * with the AWS managed key (the state machines reach it through the DynamoDB integration, which
 * needs no key grant for `aws/dynamodb`), retained. It also holds each environment's incident item
 * (`<env>#incident`, the rollback router's one incident per alarm storm), whose `expiresAt` ends its
 * cool-down; DynamoDB's TTL deletes it some time after that (the router already treats an expired
 * incident as absent, so the deletion changes no decision, it only keeps closed incidents from
 * piling up). A lock item never carries `expiresAt`, so a lock never expires.
 */
export const LOCK_TABLE_DEFAULTS = {
  partitionKey: { name: 'pk', type: AttributeType.STRING },
  billingMode: BillingMode.PAY_PER_REQUEST,
  pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
  encryption: TableEncryption.AWS_MANAGED,
  timeToLiveAttribute: LOCK_TABLE_TTL_ATTRIBUTE,
  removalPolicy: RemovalPolicy.RETAIN,
} as const satisfies TableProps;

/** Every step Lambda: latest Node.js LTS runtime on Graviton, X-Ray traced. */
export const FUNCTION_DEFAULTS = {
  runtime: Runtime.NODEJS_24_X,
  architecture: Architecture.ARM_64,
  tracing: Tracing.ACTIVE,
  memorySize: 256,
  timeout: Duration.seconds(30),
  handler: 'handler',
} as const;

/**
 * Local esbuild bundling only (never Docker). The AWS SDK v3 is provided by the Lambda runtime;
 * everything else (Powertools, zod) is bundled and minified, with source maps for stack traces
 * (mappings only, no `sourcesContent`: Node maps a stack to file and line without the sources, and
 * the map shrinks from 2.2 MB to 0.7 MB per function; see docs/decisions/0002-bundles.md).
 * `keepNames`: error classes name themselves from `new.target.name`, and those names are the
 * contract with the ASL's Retry/Catch; minified class names would break every named Catch.
 */
export const BUNDLING_DEFAULTS = {
  externalModules: ['@aws-sdk/*'],
  minify: true,
  keepNames: true,
  sourceMap: true,
  sourcesContent: false,
  target: 'node24',
  format: OutputFormat.CJS,
  forceDockerBundling: false,
} as const satisfies BundlingOptions;

/**
 * State machines log every event type but never execution data (inputs and outputs may name
 * resources; rule 1 of the design keeps secrets out of history, this keeps state out of logs).
 */
export const STATE_MACHINE_LOGGING = {
  level: LogLevel.ALL,
  includeExecutionData: false,
} as const;

/** State machines are X-Ray traced. */
export const STATE_MACHINE_TRACING = true;

/** Alarms on procedure outcomes: any failure in a minute alarms; no data means nothing ran. */
export const PROCEDURE_ALARM_DEFAULTS = {
  threshold: 1,
  evaluationPeriods: 1,
  period: Duration.minutes(1),
} as const;

/**
 * The data task (lib/data-task.ts): read-only root file system with a scratch volume on the
 * task's ephemeral storage for SQLite backup copies (TMPDIR in docker/data-task/Dockerfile);
 * 21 GiB is the smallest ephemeral storage Fargate lets a task set (20 GiB is the default).
 */
export const DATA_TASK_DEFAULTS = {
  readonlyRootFilesystem: true,
  scratchPath: '/scratch',
  ephemeralStorageGiB: 21,
} as const;
