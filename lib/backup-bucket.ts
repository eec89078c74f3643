import { Duration, Validations } from 'aws-cdk-lib';
import { type IKey, Key } from 'aws-cdk-lib/aws-kms';
import { Bucket, type IBucket } from 'aws-cdk-lib/aws-s3';
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
        ['noncurrentVersionDays', 'abortIncompleteUploadDays', 'accessLogDays'] as const
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
      ],
    });
    this.bucket = bucket;
    this.encryptionKey = key;
    this.accessLogBucket = logs;
  }
}
