import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SFNClient } from '@aws-sdk/client-sfn';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listBackupsCommand } from '../../cli/aws';
import { S3BlobStore } from '../../functions/shared/adapters/s3-blob-store';
import { LocalS3 } from '../../local/s3';
import { type BackupManifest, objectKeyOf, writeManifest } from '../../tasks/data/manifest';

const BUCKET = 'switchback-prod-backups';
let s3: LocalS3;
let dir: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'switchback-cli-'));
  s3 = await LocalS3.start(dir, [BUCKET]);
});
afterAll(async () => {
  await s3.close();
  rmSync(dir, { recursive: true, force: true });
});

function manifest(backupId: string, takenAt: string, verified: boolean | 'failed'): BackupManifest {
  return {
    schemaVersion: 1,
    backupId,
    environment: 'prod',
    store: 'postgres',
    database: 'memory',
    objectKey: objectKeyOf('prod', 'postgres', 'memory', backupId),
    format: 'pg_dump-custom',
    serverVersion: '15.18',
    sizeBytes: 3 * 1024 * 1024,
    sha256: 'b'.repeat(64),
    rowCounts: {},
    purpose: 'scheduled',
    reason: 'nightly',
    executionId: 'arn:x',
    takenAt,
    durationMs: 1,
    verification:
      verified === false
        ? null
        : {
            status: verified === true ? 'passed' : 'failed',
            method: 'pg_restore-scratch',
            at: takenAt,
            detail: '',
          },
  };
}

describe('switchback backups', () => {
  it("lists a database's backups from the bucket the stack published, newest first, verified or not", async () => {
    const blobs = new S3BlobStore(s3.client, BUCKET);
    await writeManifest(blobs, manifest('nightly-1', '2026-11-20T03:00:00.000Z', true));
    await writeManifest(blobs, manifest('nightly-2', '2026-11-21T03:00:00.000Z', 'failed'));
    await writeManifest(blobs, manifest('nightly-3', '2026-11-22T03:00:00.000Z', false));
    const ssm = new SSMClient({ region: 'eu-west-1' });
    mockClient(ssm)
      .on(GetParameterCommand, { Name: '/switchback/prod/backup-bucket' })
      .resolves({ Parameter: { Value: BUCKET } });
    const out: string[] = [];
    const code = await listBackupsCommand({
      env: 'prod',
      store: 'postgres',
      database: 'memory',
      limit: 10,
      write: (l) => out.push(l),
      clients: { ssm, s3: s3.client, sfn: new SFNClient({}), dynamodb: new DynamoDBClient({}) },
    });
    expect(code).toBe(0);
    expect(out.slice(1).map((l) => l.split(/\s+/).slice(0, 3))).toEqual([
      ['nightly-3', '2026-11-22T03:00:00.000Z', 'no'],
      ['nightly-2', '2026-11-21T03:00:00.000Z', 'FAILED'],
      ['nightly-1', '2026-11-20T03:00:00.000Z', 'yes'],
    ]);
  });
});
