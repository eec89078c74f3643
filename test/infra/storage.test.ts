import { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Bucket } from 'aws-cdk-lib/aws-s3';
import { afterAll, describe, expect, it } from 'vitest';
import { FLAG_NAMES } from '../../functions/shared/flags';
import { BackupBucket } from '../../lib/backup-bucket';
import { FLAG_RESOURCE_TYPE, Flags } from '../../lib/flags';
import type { SwitchbackStack } from '../../lib/switchback-stack';
import { allStates, PROCEDURE_NAMES, PROCEDURES } from '../../procedures/index';
import { allIamStatements, flat, resourceOf, scratchApp, stage, synthApp, toArray } from './support';

interface FlagCall {
  parameters: Record<string, unknown>;
  physicalResourceId?: { id: string };
  ignoreErrorCodesMatching?: string;
}

/** Each flag's resource by parameter name, with its create, update and delete calls. */
function flagResources(
  t: Template,
): Record<string, { logicalId: string; create: FlagCall; update?: FlagCall; delete?: FlagCall }> {
  const out: Record<string, { logicalId: string; create: FlagCall; update?: FlagCall; delete?: FlagCall }> =
    {};
  for (const [logicalId, r] of Object.entries(t.findResources(FLAG_RESOURCE_TYPE))) {
    const parse = (v: unknown) => (v === undefined ? undefined : (JSON.parse(v as string) as FlagCall));
    const create = parse(r.Properties.Create) as FlagCall;
    out[create.parameters.Name as string] = {
      logicalId,
      create,
      update: parse(r.Properties.Update),
      delete: parse(r.Properties.Delete),
    };
  }
  return out;
}

const synth = synthApp([
  stage({
    backups: {
      noncurrentVersionDays: 30,
      abortIncompleteUploadDays: 5,
      none: 'a test stage: nothing to back up',
    },
    notifications: { emails: ['oncall@example.com', 'lead@example.com'] },
    logRetentionDays: 14,
  }),
]);
afterAll(() => synth.cleanup());
const stack = synth.stacks[0] as SwitchbackStack;
const template = Template.fromStack(stack);
const ref = (v: string) => stack.resolve(v);

/** The TLS-only deny every bucket policy must carry, for a bucket. */
const tlsOnly = (bucketArn: string) => ({
  Action: 's3:*',
  Condition: { Bool: { 'aws:SecureTransport': 'false' } },
  Effect: 'Deny',
  Principal: { AWS: '*' },
  Resource: [ref(bucketArn), ref(`${bucketArn}/*`)],
});

function bucketPolicy(bucket: Bucket) {
  const policy = bucket.policy;
  if (!policy) throw new Error(`${bucket.node.path} has no policy`);
  return resourceOf(template, stack, policy).Properties.PolicyDocument as {
    Statement: Record<string, unknown>[];
  };
}

describe('backup bucket', () => {
  const bucket = stack.backups.bucket as Bucket;
  const r = resourceOf(template, stack, bucket);

  it('is versioned, SSE-KMS with its rotating customer key and a bucket key, never public, ACLs off', () => {
    expect(r.Properties.VersioningConfiguration).toEqual({ Status: 'Enabled' });
    expect(r.Properties.BucketEncryption).toEqual({
      ServerSideEncryptionConfiguration: [
        {
          BucketKeyEnabled: true,
          ServerSideEncryptionByDefault: {
            SSEAlgorithm: 'aws:kms',
            KMSMasterKeyID: ref(stack.backups.encryptionKey?.keyArn ?? ''),
          },
        },
      ],
    });
    expect(r.Properties.PublicAccessBlockConfiguration).toEqual({
      BlockPublicAcls: true,
      BlockPublicPolicy: true,
      IgnorePublicAcls: true,
      RestrictPublicBuckets: true,
    });
    expect(r.Properties.OwnershipControls).toEqual({ Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] });
    const key = resourceOf(template, stack, stack.backups.encryptionKey as IKey);
    expect(key.Properties.EnableKeyRotation).toBe(true);
    expect(key.DeletionPolicy).toBe('Retain');
  });

  it('is retained when the stack is deleted or the bucket replaced', () => {
    expect(r.DeletionPolicy).toBe('Retain');
    expect(r.UpdateReplacePolicy).toBe('Retain');
  });

  it('expires noncurrent versions and aborts multipart uploads after the stage settings', () => {
    expect(r.Properties.LifecycleConfiguration).toEqual({
      Rules: [
        {
          Id: 'expire-noncurrent-versions',
          Status: 'Enabled',
          NoncurrentVersionExpiration: { NoncurrentDays: 30 },
          AbortIncompleteMultipartUpload: { DaysAfterInitiation: 5 },
        },
      ],
    });
  });

  it('denies every request without TLS (and below TLS 1.2)', () => {
    const statements = bucketPolicy(bucket).Statement;
    expect(statements).toContainEqual(tlsOnly(bucket.bucketArn));
    expect(statements).toContainEqual(
      expect.objectContaining({ Effect: 'Deny', Condition: { NumericLessThan: { 's3:TlsVersion': 1.2 } } }),
    );
    expect(statements.filter((s) => s.Effect === 'Allow')).toEqual([]);
  });

  it('sends server access logs to a separate, private, TLS-only, SSE-S3, retained log bucket', () => {
    const logs = stack.backups.accessLogBucket as Bucket;
    expect(r.Properties.LoggingConfiguration).toEqual({
      DestinationBucketName: ref(logs.bucketName),
      LogFilePrefix: 'backup-bucket/',
    });
    const l = resourceOf(template, stack, logs);
    expect(l.Properties.BucketEncryption).toEqual({
      ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
    });
    expect(l.Properties.PublicAccessBlockConfiguration).toMatchObject({
      BlockPublicPolicy: true,
      RestrictPublicBuckets: true,
    });
    expect(l.DeletionPolicy).toBe('Retain');
    const statements = bucketPolicy(logs).Statement;
    expect(statements).toContainEqual(tlsOnly(logs.bucketArn));
    // The one Allow: S3 log delivery from this account's backup bucket, into its prefix.
    expect(statements.filter((s) => s.Effect === 'Allow')).toEqual([
      {
        Action: 's3:PutObject',
        Effect: 'Allow',
        Principal: { Service: 'logging.s3.amazonaws.com' },
        Resource: ref(`${logs.bucketArn}/backup-bucket/*`),
        Condition: {
          ArnLike: { 'aws:SourceArn': ref(bucket.bucketArn) },
          StringEquals: { 'aws:SourceAccount': ref(stack.account) },
        },
      },
    ]);
  });

  it('takes an existing bucket without touching it, and refuses settings it cannot apply', () => {
    const scratch = scratchApp();
    const other = new Stack(scratch.app, 'Other');
    const existing = new Bucket(other, 'Existing', { enforceSSL: true });
    const backups = new BackupBucket(other, 'Backups', { existingBucket: existing });
    expect(backups.bucket).toBe(existing);
    expect(backups.accessLogBucket).toBeUndefined();
    expect(
      () => new BackupBucket(other, 'Bad', { existingBucket: existing, noncurrentVersionDays: 3 }),
    ).toThrow('noncurrentVersionDays cannot be applied to an existingBucket');
    scratch.cleanup();
  });
});

describe('lock table', () => {
  const t = resourceOf(template, stack, stack.lock.table);

  it('is keyed by pk (string), on demand, with point-in-time recovery and encryption, retained', () => {
    expect(t.Properties).toMatchObject({
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: { SSEEnabled: true },
    });
    expect(t.Properties.TableName).toBeUndefined();
    expect(t.DeletionPolicy).toBe('Retain');
  });

  it('expires incident items by their expiresAt, and no definition ever writes expiresAt on a lock', () => {
    expect(t.Properties.TimeToLiveSpecification).toEqual({ AttributeName: 'expiresAt', Enabled: true });
    const writes: string[] = [];
    for (const name of PROCEDURE_NAMES) {
      for (const [state, s] of allStates(PROCEDURES[name].States)) {
        const resource = String(s.Resource ?? '');
        if (!resource.startsWith('arn:aws:states:::dynamodb:')) continue;
        const p = s.Parameters as Record<string, unknown>;
        if (p.TableName !== `\${LockTableName}`) continue;
        const item = (p.Item ?? p.Key) as { pk: Record<string, string> };
        const key = item.pk.S ?? item.pk['S.$'];
        const setsTtl =
          (p.Item !== undefined && 'expiresAt' in (p.Item as object)) ||
          /\bexpiresAt\b/.test(String(p.UpdateExpression ?? ''));
        if (setsTtl) writes.push(`${name}.${state} on ${key}`);
        // The lock item is keyed by the bare environment: it must never carry a TTL.
        if (key === `\${Environment}`) expect(setsTtl, `${name}.${state}`).toBe(false);
      }
    }
    // The writes that set it are the incident's: opened, closed, and closed as orphaned.
    expect(writes.sort()).toEqual([
      `lock-janitor.ReleaseOrphanedIncident on \${Environment}#incident`,
      'rollback-router.CloseIncident on $.route.incident.key',
      'rollback-router.OpenIncident on $.route.incident.key',
    ]);
  });
});

describe('notification topic', () => {
  const topic = resourceOf(template, stack, stack.notifications.topic);

  it('is encrypted with its own rotating key that CloudWatch alarms of this account may use', () => {
    expect(topic.Properties.KmsMasterKeyId).toEqual(ref(stack.notifications.key.keyArn));
    const key = resourceOf(template, stack, stack.notifications.key);
    expect(key.Properties.EnableKeyRotation).toBe(true);
    const statements = (key.Properties.KeyPolicy as { Statement: Record<string, unknown>[] }).Statement;
    expect(statements).toContainEqual(
      expect.objectContaining({
        Principal: { Service: 'cloudwatch.amazonaws.com' },
        Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
        Condition: expect.objectContaining({ StringEquals: { 'aws:SourceAccount': ref(stack.account) } }),
      }),
    );
  });

  it('accepts publishing over TLS only', () => {
    const policies = Object.values(template.findResources('AWS::SNS::TopicPolicy'));
    expect(policies).toHaveLength(1);
    expect(policies[0]?.Properties.PolicyDocument.Statement).toContainEqual(
      expect.objectContaining({
        Effect: 'Deny',
        Action: 'sns:Publish',
        Condition: { Bool: { 'aws:SecureTransport': 'false' } },
      }),
    );
  });

  it('subscribes every configured email address', () => {
    const subs = Object.values(template.findResources('AWS::SNS::Subscription')).map((s) => s.Properties);
    expect(subs.map((s) => [s.Protocol, s.Endpoint]).sort()).toEqual([
      ['email', 'lead@example.com'],
      ['email', 'oncall@example.com'],
    ]);
    for (const s of subs) expect(s.TopicArn).toEqual(ref(stack.notifications.topic.topicArn));
  });
});

describe('flags', () => {
  it('creates one parameter per flag under the stage prefix with the documented initial values, on create only', () => {
    const expected: Record<string, string> = {
      '/switchback/test/memory/provider': 'native',
      '/switchback/test/memory/http-base': 'http://sidecar.test.internal:7070',
      '/switchback/test/maintenance-mode': 'off',
      '/switchback/test/automation/paused': 'false',
      '/switchback/test/features/memory-context': '{"enabled":false,"percentage":0,"allowList":[]}',
      '/switchback/test/database/active': 'legacy',
    };
    expect(Object.keys(expected)).toHaveLength(FLAG_NAMES.length);
    const flags = flagResources(template);
    expect(Object.keys(flags).sort()).toEqual(Object.keys(expected).sort());
    for (const [name, f] of Object.entries(flags)) {
      expect(f.create.parameters).toEqual({
        Name: name,
        Value: expected[name],
        Type: 'String',
        Tier: 'Standard',
        Description: expect.stringContaining('Initial value only'),
        Overwrite: false,
      });
      expect(f.create.physicalResourceId).toEqual({ id: name });
      // A parameter that exists already (a stack created again) keeps its live value.
      expect(f.create.ignoreErrorCodesMatching).toBe('^ParameterAlreadyExists$');
      expect(f.update, name).toBeUndefined();
      expect(f.delete, name).toBeUndefined();
    }
    // No flag is a CloudFormation-managed parameter (an update of one writes its Value back).
    const managed = Object.values(template.findResources('AWS::SSM::Parameter')).map(
      (r) => r.Properties.Name as string,
    );
    for (const name of Object.keys(expected)) expect(managed).not.toContain(name);
  });

  it('a second deploy with a changed sidecarBaseUrl writes nothing to the existing parameter', () => {
    const before = synthApp([stage()]);
    const after = synthApp([
      stage({
        endpoints: {
          apiBaseUrl: 'http://api.test.internal:13370',
          sidecarBaseUrl: 'http://moved.test.internal:7171',
        },
      }),
    ]);
    try {
      const a = flagResources(Template.fromStack(before.stacks[0] as Stack));
      const b = flagResources(Template.fromStack(after.stacks[0] as Stack));
      const httpBase = '/switchback/test/memory/http-base';
      expect(a[httpBase]?.create.parameters.Value).toBe('http://sidecar.test.internal:7070');
      expect(b[httpBase]?.create.parameters.Value).toBe('http://moved.test.internal:7171');
      // Same logical resource, same physical id: CloudFormation sends an Update, not a replacement.
      expect(b[httpBase]?.logicalId).toBe(a[httpBase]?.logicalId);
      expect(b[httpBase]?.create.physicalResourceId).toEqual(a[httpBase]?.create.physicalResourceId);
      // An Update with no call: the handler answers SUCCESS and keeps the physical id, writing nothing.
      expect(b[httpBase]?.update).toBeUndefined();
      // Every other flag is unchanged, so CloudFormation does not even update it.
      for (const name of Object.keys(a).filter((n) => n !== httpBase)) expect(b[name], name).toEqual(a[name]);
    } finally {
      before.cleanup();
      after.cleanup();
    }
  });

  it('the resource that creates them may only PutParameter on exactly the flags', () => {
    const arn = (name: string) => `arn:<AWS::Partition>:ssm:<AWS::Region>:<AWS::AccountId>:parameter${name}`;
    const granted = allIamStatements(template)
      .filter(({ statement }) => JSON.stringify(statement).includes('ssm:PutParameter'))
      .filter(({ id }) => id.startsWith('Flags'))
      .flatMap(({ statement }) => {
        expect(statement.Action).toBe('ssm:PutParameter');
        return toArray(statement.Resource).map((r) => flat(stack, r));
      });
    expect(granted.sort()).toEqual(FLAG_NAMES.map((n) => arn(`/switchback/test/${n}`)).sort());
  });

  it('refuses an initial value its schema rejects, and grants on no flag at all', () => {
    const scratch = scratchApp();
    const s = new Stack(scratch.app, 'F');
    const initialValues = {
      'memory/provider': 'native',
      'memory/http-base': 'http://x:1',
      'maintenance-mode': 'off',
      'automation/paused': 'false',
      'features/memory-context': '{"enabled":false,"percentage":0,"allowList":[]}',
      'database/active': 'legacy',
    } as const;
    expect(
      () =>
        new Flags(s, 'Bad', {
          prefix: '/p',
          logRetention: RetentionDays.ONE_WEEK,
          initialValues: { ...initialValues, 'maintenance-mode': 'maybe' },
        }),
    ).toThrow('Flag "maintenance-mode" has an invalid value');
    expect(
      () =>
        new Flags(s, 'BadJson', {
          prefix: '/r',
          logRetention: RetentionDays.ONE_WEEK,
          initialValues: { ...initialValues, 'features/memory-context': '{"enabled":"yes"}' },
        }),
    ).toThrow('Flag "features/memory-context" has an invalid value: enabled: ');
    const flags = new Flags(s, 'Ok', { prefix: '/q', initialValues, logRetention: RetentionDays.ONE_WEEK });
    expect(() =>
      flags.grant(new Role(s, 'R', { assumedBy: new ServicePrincipal('lambda.amazonaws.com') }), [], 'read'),
    ).toThrow('name at least one flag');
    scratch.cleanup();
  });
});
