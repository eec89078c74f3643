import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { S3BlobStore } from '../../functions/shared/adapters/s3-blob-store';
import { S3StreamStore } from '../../functions/shared/adapters/s3-stream-store';
import type { LogEntry } from '../../local/adapters/recording-log';
import { RecordingLog } from '../../local/adapters/recording-log';
import { LocalS3 } from '../../local/s3';
import type { DataDeps } from '../../tasks/data/postgres';

export const BUCKET = 'switchback-test-backups';

/** s3rver + the real S3 adapters, and data-task dependencies over them. */
export async function startDataHarness(environment = 'test') {
  const dir = mkdtempSync(join(tmpdir(), 'switchback-data-'));
  const s3 = await LocalS3.start(join(dir, 's3'), [BUCKET]);
  const logs = new RecordingLog();
  const deps: DataDeps = {
    environment,
    blobs: new S3BlobStore(s3.client, BUCKET),
    objects: new S3StreamStore(s3.client, BUCKET),
    clock: { now: () => new Date() },
    log: logs.forStep('data-task'),
  };
  return {
    dir,
    s3,
    deps,
    logs: logs.entries as LogEntry[],
    async close() {
      await s3.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Replaces a stored object's bytes (what a corrupted or truncated upload leaves behind). */
export async function rewriteObject(
  harness: Awaited<ReturnType<typeof startDataHarness>>,
  key: string,
  change: (bytes: Buffer) => Buffer,
): Promise<void> {
  const body = await harness.deps.blobs.get(key);
  if (!body) throw new Error(`no object ${key}`);
  await harness.deps.blobs.put(key, change(Buffer.from(body)), 'application/octet-stream');
}

export function flipByte(at: number) {
  return (bytes: Buffer) => {
    const copy = Buffer.from(bytes);
    const i = Math.min(Math.max(0, at), copy.length - 1);
    copy[i] = (copy[i] as number) ^ 0xff;
    return copy;
  };
}
