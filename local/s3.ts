import { mkdirSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { S3Client } from '@aws-sdk/client-s3';
import S3rver from 's3rver';

/**
 * S3 for local runs: s3rver on loopback, reached with the real SDK clients (path-style), so
 * multipart uploads, streamed downloads and tags go through the same adapters as on AWS.
 */
export class LocalS3 {
  private constructor(
    private readonly server: S3rver,
    readonly endpoint: string,
    readonly client: S3Client,
  ) {}

  static async start(directory: string, buckets: string[]): Promise<LocalS3> {
    mkdirSync(directory, { recursive: true });
    const server = new S3rver({
      port: 0,
      address: '127.0.0.1',
      silent: true,
      directory,
      configureBuckets: buckets.map((name) => ({ name, configs: [] })),
    });
    settlePuts(server);
    const address = await server.run();
    const endpoint = `http://127.0.0.1:${address.port}`;
    return new LocalS3(server, endpoint, new S3Client(LocalS3.clientConfig(endpoint)));
  }

  /** Client settings for s3rver (its fixed local credentials are not secrets). */
  static clientConfig(endpoint: string) {
    return {
      endpoint,
      forcePathStyle: true,
      region: 'us-east-1',
      credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
      maxAttempts: 2,
    };
  }

  /** Environment that points a child process's SDK at this server. */
  processEnv(): Record<string, string> {
    return {
      SB_S3_ENDPOINT: this.endpoint,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'S3RVER',
      AWS_SECRET_ACCESS_KEY: 'S3RVER',
    };
  }

  async close(): Promise<void> {
    this.client.destroy();
    await this.server.close();
  }
}

interface FilesystemStore {
  putObject(object: { bucket: string; key: string }): Promise<{ size: number; md5: string }>;
  getResourcePath(bucket: string, key: string, type: string): string;
}

/**
 * s3rver answers a PUT once its hashing stream has finished, before the file write is flushed, so
 * a GET right after it can read a truncated object (seen with a checkpoint rewritten every batch
 * and read at once by the next step). S3 itself is strongly consistent: make the stand-in so by
 * answering only once the object's bytes are on disk.
 */
function settlePuts(server: S3rver): void {
  const store = (server as unknown as { store: FilesystemStore }).store;
  const put = store.putObject.bind(store);
  store.putObject = async (object) => {
    const result = await put(object);
    const file = store.getResourcePath(object.bucket, object.key, 'object');
    for (let i = 0; i < 200; i++) {
      const size = await stat(file).then(
        (s) => s.size,
        () => -1,
      );
      if (size === result.size) break;
      await new Promise((r) => setTimeout(r, 5));
    }
    return result;
  };
}
