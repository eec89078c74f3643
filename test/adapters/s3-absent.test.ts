import 'aws-sdk-client-mock-vitest/extend';
import {
  GetObjectCommand,
  GetObjectTaggingCommand,
  ListObjectsV2Command,
  NoSuchKey,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { S3BlobStore } from '../../functions/shared/adapters/s3-blob-store';
import { S3StreamStore } from '../../functions/shared/adapters/s3-stream-store';
import { BackupNotFoundError } from '../../functions/shared/errors';

const client = new S3Client({ region: 'eu-west-1' });
const s3 = mockClient(client);
beforeEach(() => s3.reset());

const BUCKET = 'switchback-prod-backups';

/**
 * What S3 answers a caller without `s3:ListBucket` for the key (our grants condition ListBucket on
 * `s3:prefix`, which GetObject does not carry): 403 AccessDenied, whether or not the key exists.
 */
const accessDenied = () =>
  new S3ServiceException({
    name: 'AccessDenied',
    $fault: 'client',
    $metadata: { httpStatusCode: 403 },
    message: 'Access Denied',
  });

/** Each "absent is normal" read, with what it answers for an absent key. */
const reads: [
  name: string,
  read: (key: string) => Promise<unknown>,
  absent: (p: Promise<unknown>) => Promise<void>,
][] = [
  [
    'S3BlobStore.get (change records, rollout logs, catalog)',
    (key) => new S3BlobStore(client, BUCKET).get(key),
    async (p) => {
      await expect(p).resolves.toBeUndefined();
    },
  ],
  [
    'S3StreamStore.download (backups)',
    (key) => new S3StreamStore(client, BUCKET).download(key),
    async (p) => {
      await expect(p).rejects.toThrow(BackupNotFoundError);
    },
  ],
  [
    'S3StreamStore.getTags (backup retention)',
    (key) => new S3StreamStore(client, BUCKET).getTags(key),
    async (p) => {
      await expect(p).rejects.toThrow(`s3://${BUCKET}/backups/prod/x does not exist`);
    },
  ],
];

describe.each(reads)('%s', (_name, read, absent) => {
  const key = 'backups/prod/x';
  const deny = () => {
    s3.on(GetObjectCommand).rejects(accessDenied());
    s3.on(GetObjectTaggingCommand).rejects(accessDenied());
  };

  it('an absent key that S3 answers 403 (no ListBucket for it) reads as absent, after listing its prefix', async () => {
    deny();
    s3.on(ListObjectsV2Command, { Bucket: BUCKET, Prefix: key, MaxKeys: 1 }).resolves({ KeyCount: 0 });
    await absent(read(key));
    expect(s3).toHaveReceivedCommandWith(ListObjectsV2Command, { Bucket: BUCKET, Prefix: key, MaxKeys: 1 });
  });

  it('a longer key under the same prefix does not make the key present', async () => {
    deny();
    s3.on(ListObjectsV2Command).resolves({ Contents: [{ Key: `${key}.manifest.json` }], KeyCount: 1 });
    await absent(read(key));
  });

  it('a 403 for a key that exists stays a denial (a real permission problem is never hidden)', async () => {
    deny();
    s3.on(ListObjectsV2Command).resolves({ Contents: [{ Key: key }], KeyCount: 1 });
    await expect(read(key)).rejects.toMatchObject({ name: 'AccessDenied' });
  });

  it('a 404 NoSuchKey is absent without a listing', async () => {
    s3.on(GetObjectCommand).rejects(
      new NoSuchKey({ message: 'The specified key does not exist.', $metadata: {} }),
    );
    s3.on(GetObjectTaggingCommand).rejects(
      new NoSuchKey({ message: 'The specified key does not exist.', $metadata: {} }),
    );
    await absent(read(key));
    expect(s3).not.toHaveReceivedCommand(ListObjectsV2Command);
  });
});
