import type { Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  PutObjectTaggingCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { BackupNotFoundError } from '../errors';
import type { StreamStore } from '../ports';
import { isAbsent } from './s3-absent';

/**
 * Part size and concurrency bound the memory an upload holds: about partSize x (queueSize + 1).
 * Two parts in flight keep up with pg_dump's compressed output (a few to ~25 MB/s) and keep a
 * PostgreSQL backup's peak RSS under 150 MB; four added ~15 MB for no measurable gain
 * (docs/benchmarks.md).
 */
export const UPLOAD_PART_SIZE = 8 * 1024 * 1024;
export const UPLOAD_QUEUE_SIZE = 2;

/** Backups in S3: multipart uploads with lib-storage, streamed downloads, tags for state. */
export class S3StreamStore implements StreamStore {
  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
  ) {}

  async upload(key: string, body: NodeJS.ReadableStream, contentType: string): Promise<void> {
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.bucket, Key: key, Body: body as Readable, ContentType: contentType },
      partSize: UPLOAD_PART_SIZE,
      queueSize: UPLOAD_QUEUE_SIZE,
      leavePartsOnError: false,
    });
    await upload.done();
  }

  async download(key: string): Promise<NodeJS.ReadableStream> {
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      if (!out.Body) throw new BackupNotFoundError(`s3://${this.bucket}/${key} has no body`);
      return out.Body as Readable;
    } catch (err) {
      if (await isAbsent(this.client, this.bucket, key, err))
        throw new BackupNotFoundError(`s3://${this.bucket}/${key} does not exist`);
      throw err;
    }
  }

  async setTags(key: string, tags: Record<string, string>): Promise<void> {
    const current = await this.getTags(key);
    const TagSet = Object.entries({ ...current, ...tags }).map(([Key, Value]) => ({ Key, Value }));
    await this.client.send(
      new PutObjectTaggingCommand({ Bucket: this.bucket, Key: key, Tagging: { TagSet } }),
    );
  }

  async getTags(key: string): Promise<Record<string, string>> {
    try {
      const out = await this.client.send(new GetObjectTaggingCommand({ Bucket: this.bucket, Key: key }));
      return Object.fromEntries((out.TagSet ?? []).map((t) => [t.Key ?? '', t.Value ?? '']));
    } catch (err) {
      if (await isAbsent(this.client, this.bucket, key, err))
        throw new BackupNotFoundError(`s3://${this.bucket}/${key} does not exist`);
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
  }
}
