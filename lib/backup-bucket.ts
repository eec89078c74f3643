import { Duration, Stack, Validations } from 'aws-cdk-lib';
import { type IGrantable, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { type IKey, Key } from 'aws-cdk-lib/aws-kms';
import { Bucket, type IBucket, type LifecycleRule } from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { ACCESS_LOG_BUCKET_DEFAULTS, BACKUP_BUCKET_DEFAULTS, KEY_DEFAULTS } from './defaults';

export interface BackupBucketProps {
  /**
   * Use this bucket instead of creating one (Solutions Constructs style). It must already be
   * versioned, encrypted and private; Switchback does not change it. If it is SSE-KMS encrypted,
   * pass its key as `existingBucketKey` so writers get `kms:GenerateDataKey`/`kms:Decrypt`.
   * @default - a new bucket with `BACKUP_BUCKET_DEFAULTS`
   */
  readonly existingBucket?: IBucket;
  /**
   * The KMS key of `existingBucket`, when it uses SSE-KMS.
   * @default - `existingBucket.encryptionKey`
   */
  readonly existingBucketKey?: IKey;
  /**
   * Days an overwritten or deleted object version is kept before S3 expires it.
   * @default 90
   */
  readonly noncurrentVersionDays?: number;
  /**
   * Days after which incomplete multipart uploads are aborted (their parts cost money and are
   * invisible).
   * @default 2
   */
  readonly abortIncompleteUploadDays?: number;
  /**
   * Days server access logs are kept.
   * @default 365
   */
  readonly accessLogDays?: number;
  /**
   * Days after which a backup under `backups/` tagged `switchback:expirable=true` expires. The
   * backup catalog tags the newest verified backup of each database `false`, so it never expires.
   * @default - backups never expire
   */
  readonly backupRetentionDays?: number;
  /**
   * Days after which data task results under `task-results/` expire.
   * @default - never
   */
  readonly taskResultDays?: number;
}

/** The tag the backup catalog sets on every backup object; `true` lets the lifecycle expire it. */
export const EXPIRABLE_TAG = 'switchback:expirable';

/** What `BackupBucket.grantPrefix` allows under one key prefix. */
export interface PrefixGrant {
  /** S3 object actions on `<bucket>/<prefix>/*`. */
  readonly actions: readonly string[];
  /** Also `s3:ListBucket`, only for keys under the prefix. @default false */
  readonly list?: boolean;
  /** Actions on the bucket key, only through S3. @default - none */
  readonly keyActions?: readonly string[];
}

/**
 * The bucket backups and change records live in: versioned, SSE-KMS with a rotating customer
 * managed key, TLS only, never public, retained, with noncurrent versions expired after
 * `noncurrentVersionDays` and server access logs in a separate (SSE-S3) log bucket.
 */
export class BackupBucket extends Construct {
  /** The backup bucket (created or existing). */
  public readonly bucket: IBucket;
  /** Key the bucket is encrypted with, when SSE-KMS; writers and readers need it. */
  public readonly encryptionKey?: IKey;
  /** The server access log bucket; undefined for an existing bucket. */
  public readonly accessLogBucket?: IBucket;

  constructor(scope: Construct, id: string, props: BackupBucketProps = {}) {
    super(scope, id);
    if (props.existingBucket) {
      const contradicting = (
        [
          'noncurrentVersionDays',
          'abortIncompleteUploadDays',
          'accessLogDays',
          'backupRetentionDays',
          'taskResultDays',
        ] as const
      ).filter((k) => props[k] !== undefined);
      if (contradicting.length) {
        throw new Error(
          `BackupBucket: ${contradicting.join(', ')} cannot be applied to an existingBucket; configure that bucket directly`,
        );
      }
      this.bucket = props.existingBucket;
      this.encryptionKey = props.existingBucketKey ?? props.existingBucket.encryptionKey;
      return;
    }
    if (props.existingBucketKey) throw new Error('BackupBucket: existingBucketKey needs existingBucket');

    const logs = new Bucket(this, 'AccessLogs', {
      ...ACCESS_LOG_BUCKET_DEFAULTS,
      lifecycleRules: [
        {
          id: 'expire-access-logs',
          expiration: Duration.days(props.accessLogDays ?? 365),
          noncurrentVersionExpiration: Duration.days(1),
          abortIncompleteMultipartUploadAfter: Duration.days(1),
        },
      ],
    });
    Validations.of(logs).acknowledge({
      id: 'AwsSolutions-S1',
      reason:
        'This is the server access log bucket of the backup bucket; logging it would loop onto itself or only move the question to a third bucket.',
    });

    const key = new Key(this, 'Key', {
      ...KEY_DEFAULTS,
      description: 'Switchback backups and change records (S3 SSE-KMS)',
    });

    const bucket = new Bucket(this, 'Bucket', {
      ...BACKUP_BUCKET_DEFAULTS,
      encryptionKey: key,
      serverAccessLogsBucket: logs,
      serverAccessLogsPrefix: 'backup-bucket/',
      lifecycleRules: [
        {
          id: 'expire-noncurrent-versions',
          noncurrentVersionExpiration: Duration.days(props.noncurrentVersionDays ?? 90),
          abortIncompleteMultipartUploadAfter: Duration.days(props.abortIncompleteUploadDays ?? 2),
        },
        ...dataLifecycleRules(props),
      ],
    });
    this.bucket = bucket;
    this.encryptionKey = key;
    this.accessLogBucket = logs;
  }

  /**
   * Lets `grantee` use the objects under `prefix/`: the given object actions on `<bucket>/<prefix>/*`,
   * optionally `s3:ListBucket` for keys under the prefix only, and the bucket key's actions only
   * through S3. Returns the wildcard object ARN granted (for its cdk-nag acknowledgement).
   */
  grantPrefix(grantee: IGrantable, prefix: string, grant: PrefixGrant): string {
    const principal = grantee.grantPrincipal;
    const objects = this.bucket.arnForObjects(`${prefix}/*`);
    principal.addToPrincipalPolicy(
      new PolicyStatement({ actions: [...grant.actions], resources: [objects] }),
    );
    if (grant.list) {
      principal.addToPrincipalPolicy(
        new PolicyStatement({
          actions: ['s3:ListBucket'],
          resources: [this.bucket.bucketArn],
          conditions: { StringLike: { 's3:prefix': [`${prefix}/*`] } },
        }),
      );
    }
    if (this.encryptionKey && grant.keyActions?.length) {
      principal.addToPrincipalPolicy(
        new PolicyStatement({
          actions: [...grant.keyActions],
          resources: [this.encryptionKey.keyArn],
          conditions: { StringEquals: { 'kms:ViaService': `s3.${Stack.of(this).region}.amazonaws.com` } },
        }),
      );
    }
    return objects;
  }
}

/**
 * Backups expire by tag, not by age alone: only current objects under `backups/` tagged
 * `switchback:expirable=true` (versioning then keeps the expired version for
 * `noncurrentVersionDays`). Task results are scratch and expire by age.
 */
function dataLifecycleRules(props: BackupBucketProps): LifecycleRule[] {
  const rules: LifecycleRule[] = [];
  if (props.backupRetentionDays !== undefined) {
    rules.push({
      id: 'expire-expirable-backups',
      prefix: 'backups/',
      tagFilters: { [EXPIRABLE_TAG]: 'true' },
      expiration: Duration.days(props.backupRetentionDays),
    });
  }
  if (props.taskResultDays !== undefined) {
    rules.push({
      id: 'expire-task-results',
      prefix: 'task-results/',
      expiration: Duration.days(props.taskResultDays),
    });
  }
  return rules;
}
