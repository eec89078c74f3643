import 'aws-sdk-client-mock-vitest/extend';
import {
  GetObjectCommand,
  type GetObjectCommandOutput,
  ListObjectsV2Command,
  NoSuchKey,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { S3BlobStore } from '../../functions/shared/adapters/s3-blob-store';

const client = new S3Client({ region: 'eu-west-1' });
const s3 = mockClient(client);
beforeEach(() => s3.reset());

const store = () => new S3BlobStore(client, 'switchback-prod-records');

/** The part of the SDK's streaming body the adapter uses. */
function body(text: string): GetObjectCommandOutput['Body'] {
  const bytes = new TextEncoder().encode(text);
  return { transformToByteArray: async () => bytes } as unknown as GetObjectCommandOutput['Body'];
}

describe('S3BlobStore', () => {
  it('reads an object from the bucket', async () => {
    s3.on(GetObjectCommand, { Bucket: 'switchback-prod-records', Key: 'records/co-1.json' }).resolves({
      Body: body('{"changeId":"co-1"}'),
    });
    const got = await store().get('records/co-1.json');
    expect(new TextDecoder().decode(got)).toBe('{"changeId":"co-1"}');
  });

  it('answers undefined for a key that does not exist', async () => {
    s3.on(GetObjectCommand).rejects(
      new NoSuchKey({ message: 'The specified key does not exist.', $metadata: {} }),
    );
    await expect(store().get('records/none.json')).resolves.toBeUndefined();
  });

  it('lets AccessDenied through: a missing permission is not a missing record', async () => {
    s3.on(GetObjectCommand).rejects(Object.assign(new Error('Access Denied'), { name: 'AccessDenied' }));
    await expect(store().get('records/co-1.json')).rejects.toThrow('Access Denied');
  });

  it('writes with the content type', async () => {
    s3.on(PutObjectCommand).resolves({});
    await store().put('records/co-1.json', '{}\n', 'application/json');
    expect(s3).toHaveReceivedCommandWith(PutObjectCommand, {
      Bucket: 'switchback-prod-records',
      Key: 'records/co-1.json',
      Body: '{}\n',
      ContentType: 'application/json',
    });
  });

  it('lists every key under a prefix, following continuation tokens', async () => {
    s3.on(ListObjectsV2Command)
      .resolvesOnce({ IsTruncated: true, NextContinuationToken: 't1', Contents: [{ Key: 'r/a.json' }, {}] })
      .resolvesOnce({ IsTruncated: true, NextContinuationToken: 't2', Contents: [{ Key: 'r/b.json' }] })
      .resolvesOnce({ IsTruncated: false, Contents: [{ Key: 'r/c.json' }] });
    await expect(store().list('r/')).resolves.toEqual(['r/a.json', 'r/b.json', 'r/c.json']);
    const tokens = s3.commandCalls(ListObjectsV2Command).map((c) => c.args[0].input.ContinuationToken);
    expect(tokens).toEqual([undefined, 't1', 't2']);
    expect(s3).toHaveReceivedCommandWith(ListObjectsV2Command, {
      Bucket: 'switchback-prod-records',
      Prefix: 'r/',
    });
  });

  it('lists nothing for an empty prefix', async () => {
    s3.on(ListObjectsV2Command).resolves({ KeyCount: 0 });
    await expect(store().list('r/')).resolves.toEqual([]);
    expect(s3).toHaveReceivedCommandTimes(ListObjectsV2Command, 1);
  });
});
