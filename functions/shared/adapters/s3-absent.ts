import { ListObjectsV2Command, type S3Client, S3ServiceException } from '@aws-sdk/client-s3';

/**
 * Whether a read that failed with `err` failed because the key does not exist.
 *
 * S3 answers a read of a missing key with 404 `NoSuchKey` only to a caller allowed `s3:ListBucket`
 * on the bucket; to any other caller it answers 403 `AccessDenied`. The steps' ListBucket grants
 * are conditioned on `s3:prefix`, which a GetObject request does not carry, so on AWS a missing key
 * comes back as AccessDenied. On that answer this lists the key's own prefix (which the grant
 * allows) and says the key is absent only if the listing does not have it: a real denial, of a key
 * that exists, stays a denial.
 */
export async function isAbsent(
  client: S3Client,
  bucket: string,
  key: string,
  err: unknown,
): Promise<boolean> {
  if (isNoSuchKey(err)) return true;
  if (
    !(err instanceof S3ServiceException) ||
    (err.name !== 'AccessDenied' && err.$metadata?.httpStatusCode !== 403)
  ) {
    return false;
  }
  const listed = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: key, MaxKeys: 1 }));
  return !(listed.Contents ?? []).some((o) => o.Key === key);
}

function isNoSuchKey(err: unknown): boolean {
  return err instanceof S3ServiceException && (err.name === 'NoSuchKey' || err.name === 'NotFound');
}
