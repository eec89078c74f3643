import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CfnDeletionPolicy, type CfnResource, Stack, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { Cluster, ContainerImage, FargateTaskDefinition } from 'aws-cdk-lib/aws-ecs';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { AwsSolutionsChecks } from 'cdk-nag';
import { afterAll, describe, expect, it } from 'vitest';
import { RuntimeConfig } from '../../functions/shared/config';
import { dataPrefixes } from '../../lib/config/data-schema';
import { parseStage, StageConfigError, toRuntimeConfig } from '../../lib/config/stage';
import { DATA_PROCEDURES, LOCKING_DATA_PROCEDURES } from '../../lib/data-protection';
import { DATA_TASK_CONTAINER, DATA_TASK_DOCKERFILE } from '../../lib/data-task';
import { type EcsTaskTarget, Procedure } from '../../lib/procedure';
import { procedureParameterName, type SwitchbackStack } from '../../lib/switchback-stack';
import { backupPrefix } from '../../tasks/data/manifest';
import { resultKeyOf } from '../../tasks/data/task';
import {
  cdkJsonStages,
  type FlatStatement,
  flat,
  grantPairs,
  resourceOf,
  roleStatements,
  scratchApp,
  stage,
  synthApp,
} from './support';

const ARN = 'arn:<AWS::Partition>';
const REGION_ACCOUNT = '<AWS::Region>:<AWS::AccountId>';
const SM_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:memory/db-AbCdEf';
const KMS_ARN = 'arn:aws:kms:eu-west-1:123456789012:key/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0';

const network = {
  vpcId: 'vpc-0abc',
  availabilityZones: ['eu-west-1a'],
  subnetIds: ['subnet-0aaa'],
  securityGroupIds: ['sg-0ccc'],
};

/** A stage with a Secrets Manager password (JSON field, customer key), both writers and no schedule. */
const secretsManagerStage = stage({
  name: 'smdata',
  network,
  data: {
    postgres: {
      host: '10.0.1.5',
      user: 'switchback',
      passwordSecret: SM_ARN,
      passwordSecretField: 'password',
      passwordKmsKeyArn: KMS_ARN,
      sslMode: 'require',
      databases: ['memory', 'audit'],
    },
    writers: ['api', 'sidecar'],
    schedule: 'disabled',
    task: { cpu: 2048, memoryMiB: 4096 },
  },
});
/** SQLite only, its network from the top-level section, a weekly schedule. */
const sqliteOnlyStage = stage({
  name: 'sqlite',
  network,
  data: {
    sqlite: {
      efs: { fileSystemId: 'fs-0123', accessPointId: 'fsap-0456' },
      databases: { memory: 'data/memory.db', sessions: 'sessions.db' },
    },
    backupRetentionDays: 7,
    schedule: 'cron(30 2 ? * SUN *)',
  },
});

const synth = synthApp([...cdkJsonStages(), stage({ name: 'plain' })]);
const variants = synthApp([secretsManagerStage, sqliteOnlyStage]);
afterAll(() => {
  synth.cleanup();
  variants.cleanup();
});
const staging = synth.stacks[0] as SwitchbackStack;
/** A stage without data (it says why in backups.none). */
const prod = synth.stacks[2] as SwitchbackStack;
const smStack = variants.stacks[0] as SwitchbackStack;
const sqliteStack = variants.stacks[1] as SwitchbackStack;
const template = Template.fromStack(staging);

function dataOf(stack: SwitchbackStack) {
  if (!stack.data) throw new Error(`${stack.stackName} deploys no data procedures`);
  return stack.data;
}

function containerOf(stack: SwitchbackStack) {
  const props = resourceOf(Template.fromStack(stack), stack, dataOf(stack).task.taskDefinition).Properties;
  const defs = props.ContainerDefinitions as Record<string, unknown>[];
  expect(defs).toHaveLength(1);
  return { task: props, container: defs[0] as Record<string, unknown> };
}

const statementsOf = (stack: SwitchbackStack, role: Role) => roleStatements(stack, role);
const withAction = (statements: FlatStatement[], action: string) =>
  statements.filter((s) => s.actions.includes(action));

describe('stage configuration: data', () => {
  const base = (data: unknown, extra: Record<string, unknown> = {}) => stage({ network, ...extra, data });

  it('fills the defaults: writers api, 30 days, daily 03:00 UTC, 1 vCPU / 2 GiB, port 5432', () => {
    const parsed = parseStage(
      base({ postgres: { host: 'db', user: 'u', passwordSecret: '/p', databases: ['memory'] } }),
    );
    expect(parsed.data).toMatchObject({
      writers: ['api'],
      backupRetentionDays: 30,
      taskResultDays: 7,
      schedule: 'cron(0 3 * * ? *)',
      task: { cpu: 1024, memoryMiB: 2048 },
      postgres: { port: 5432 },
    });
  });

  it.each([
    [
      'a password secret that is neither an SSM name nor a complete secret ARN',
      { postgres: { host: 'db', user: 'u', passwordSecret: 'hunter2', databases: ['memory'] } },
      'data.postgres.passwordSecret',
    ],
    [
      'a secret field on an SSM parameter',
      {
        postgres: {
          host: 'db',
          user: 'u',
          passwordSecret: '/p',
          passwordSecretField: 'password',
          databases: ['m'],
        },
      },
      'data.postgres.passwordSecretField',
    ],
    [
      'a database name pg_dump would choke on',
      { postgres: { host: 'db', user: 'u', passwordSecret: '/p', databases: ['mem;drop'] } },
      'data.postgres.databases.0',
    ],
    [
      'a SQLite path escaping the mount',
      {
        sqlite: {
          efs: { fileSystemId: 'fs-01', accessPointId: 'fsap-01' },
          databases: { memory: '../etc/x.db' },
        },
      },
      'data.sqlite.databases.memory',
    ],
    [
      'a malformed access point id',
      { sqlite: { efs: { fileSystemId: 'fs-01', accessPointId: 'ap-1' }, databases: { m: 'm.db' } } },
      'data.sqlite.efs.accessPointId',
    ],
    [
      'memory Fargate does not offer with that CPU',
      {
        postgres: { host: 'db', user: 'u', passwordSecret: '/p', databases: ['m'] },
        task: { cpu: 1024, memoryMiB: 1024 },
      },
      'data.task.memoryMiB',
    ],
    ['no database at all', {}, 'data'],
    [
      'an unknown writer',
      { postgres: { host: 'db', user: 'u', passwordSecret: '/p', databases: ['m'] }, writers: ['db'] },
      'data.writers.0',
    ],
    [
      'a schedule that is not a schedule expression',
      { postgres: { host: 'db', user: 'u', passwordSecret: '/p', databases: ['m'] }, schedule: 'daily' },
      'data.schedule',
    ],
  ])('refuses %s, naming the field', (_name, data, field) => {
    expect(() => parseStage(base(data))).toThrow(StageConfigError);
    expect(() => parseStage(base(data))).toThrow(new RegExp(`${field.replace(/\./g, '\\.')}:`));
  });

  it('needs a network for the data task: data.network or the top-level one', () => {
    const data = { postgres: { host: 'db', user: 'u', passwordSecret: '/p', databases: ['m'] } };
    expect(() => parseStage(stage({ data, network: undefined }))).toThrow(
      /data\.network: required when the stage has no/,
    );
    expect(parseStage(stage({ data: { ...data, network } })).data?.network?.assignPublicIp).toBe(false);
  });

  it('maps into the runtime config the steps and the data task read (paths under the mount)', () => {
    const runtime = toRuntimeConfig(parseStage(sqliteOnlyStage), 'bucket');
    expect(RuntimeConfig.parse(runtime).data).toEqual({
      postgres: { databases: [] },
      sqlite: { databases: { memory: '/mnt/sqlite/data/memory.db', sessions: '/mnt/sqlite/sessions.db' } },
      network: { subnets: ['subnet-0aaa'], securityGroups: ['sg-0ccc'], assignPublicIp: 'DISABLED' },
      writers: ['api'],
    });
    expect(toRuntimeConfig(parseStage(stage()), 'bucket').data).toBeUndefined();
  });

  it('grants the key prefixes the data code uses', () => {
    const p = dataPrefixes('staging');
    expect(backupPrefix('staging', 'postgres', 'memory').startsWith(`${p.backups}/`)).toBe(true);
    expect(resultKeyOf('staging', 'x/backup').startsWith(`${p.taskResults}/`)).toBe(true);
  });
});

describe('data task definition (staging)', () => {
  const { task, container } = containerOf(staging);

  it('keeps its previous revision ACTIVE when a deploy replaces it, so a restore in flight can still run it', () => {
    const defs = Object.values(template.findResources('AWS::ECS::TaskDefinition'));
    expect(defs).toHaveLength(1);
    expect(defs[0]?.UpdateReplacePolicy).toBe('Retain');
  });

  it('is Fargate, Linux on ARM64, sized from config, with modest ephemeral storage', () => {
    expect(task).toMatchObject({
      RequiresCompatibilities: ['FARGATE'],
      NetworkMode: 'awsvpc',
      Cpu: '1024',
      Memory: '2048',
      RuntimePlatform: { CpuArchitecture: 'ARM64', OperatingSystemFamily: 'LINUX' },
      EphemeralStorage: { SizeInGiB: 21 },
      TaskRoleArn: staging.resolve(dataOf(staging).task.taskRole.roleArn),
      ExecutionRoleArn: staging.resolve(dataOf(staging).task.executionRole.roleArn),
    });
    const variant = containerOf(smStack).task;
    expect([variant.Cpu, variant.Memory]).toEqual(['2048', '4096']);
  });

  it('runs the one container the ASL overrides, essential, on a read-only root file system', () => {
    expect(container.Name).toBe(DATA_TASK_CONTAINER);
    expect(container.Essential).toBe(true);
    expect(container.ReadonlyRootFilesystem).toBe(true);
    for (const name of DATA_PROCEDURES) {
      const definition = JSON.parse(Procedure.definition(name)) as unknown;
      const names = [...JSON.stringify(definition).matchAll(/"Name":"([^"]+)","Environment"/g)].map(
        (m) => m[1],
      );
      expect(names.length, name).toBeGreaterThan(0);
      expect(new Set(names), name).toEqual(new Set([DATA_TASK_CONTAINER]));
    }
  });

  it('gets libpq settings and SWITCHBACK_CONFIG as plain env, and PGPASSWORD only as an SSM secret', () => {
    const env = Object.fromEntries(
      (container.Environment as { Name: string; Value: unknown }[]).map((e) => [e.Name, e.Value]),
    );
    expect(Object.keys(env).sort()).toEqual(['PGHOST', 'PGPORT', 'PGUSER', 'SWITCHBACK_CONFIG']);
    expect(env).toMatchObject({ PGHOST: 'memory-db.staging.internal', PGPORT: '5432', PGUSER: 'switchback' });
    expect(container.Secrets).toEqual([
      {
        Name: 'PGPASSWORD',
        ValueFrom: {
          'Fn::Join': [
            '',
            [
              'arn:',
              { Ref: 'AWS::Partition' },
              ':ssm:',
              { Ref: 'AWS::Region' },
              ':',
              { Ref: 'AWS::AccountId' },
              ':parameter/memory/staging/postgres-password',
            ],
          ],
        },
      },
    ]);
    const config = JSON.stringify(staging.resolve(env.SWITCHBACK_CONFIG));
    expect(config).toContain('/mnt/memory/memory.db');
    expect(config).toContain('subnet-0a1b2c3d4e5f60718');
    expect(JSON.stringify(template.toJSON())).not.toMatch(/PGPASSWORD"\s*,\s*"Value"/);
  });

  it('takes a Secrets Manager JSON field, and decrypts with the customer key only through Secrets Manager', () => {
    const { container: c } = containerOf(smStack);
    expect(c.Secrets).toEqual([{ Name: 'PGPASSWORD', ValueFrom: `${SM_ARN}:password::` }]);
    const env = (c.Environment as { Name: string; Value: string }[]).find((e) => e.Name === 'PGSSLMODE');
    expect(env?.Value).toBe('require');
    const exec = statementsOf(smStack, dataOf(smStack).task.executionRole);
    expect(grantPairs(exec).filter((g) => /^(secretsmanager|kms|ssm):/.test(g))).toEqual(
      [
        `kms:Decrypt on ${KMS_ARN}`,
        `secretsmanager:DescribeSecret on ${SM_ARN}`,
        `secretsmanager:GetSecretValue on ${SM_ARN}`,
      ].sort(),
    );
    expect(withAction(exec, 'kms:Decrypt')[0]?.condition).toEqual({
      StringEquals: {
        'kms:ViaService': { 'Fn::Join': ['', ['secretsmanager.', { Ref: 'AWS::Region' }, '.amazonaws.com']] },
      },
    });
  });

  it('mounts the EFS access point with TLS and IAM authorization, and a scratch volume', () => {
    expect(task.Volumes).toEqual([
      { Name: 'scratch' },
      {
        Name: 'sqlite',
        EFSVolumeConfiguration: {
          FilesystemId: 'fs-0a1b2c3d4e5f60718',
          TransitEncryption: 'ENABLED',
          AuthorizationConfig: { AccessPointId: 'fsap-0a1b2c3d4e5f60718', IAM: 'ENABLED' },
        },
      },
    ]);
    expect(container.MountPoints).toEqual([
      { SourceVolume: 'scratch', ContainerPath: '/scratch', ReadOnly: false },
      { SourceVolume: 'sqlite', ContainerPath: '/mnt/memory', ReadOnly: false },
    ]);
    expect(containerOf(smStack).task.Volumes).toEqual([{ Name: 'scratch' }]);
  });

  it('logs to its own log group with the stage retention', () => {
    const logs = dataOf(staging).task.logGroup;
    expect(container.LogConfiguration).toEqual({
      LogDriver: 'awslogs',
      Options: {
        'awslogs-group': staging.resolve(logs.logGroupName),
        'awslogs-stream-prefix': DATA_TASK_CONTAINER,
        'awslogs-region': { Ref: 'AWS::Region' },
      },
    });
    expect(resourceOf(template, staging, logs).Properties.RetentionInDays).toBe(90);
  });
});

describe('data task image', () => {
  it('is built from docker/data-task/Dockerfile for linux/arm64; synth only stages the context', () => {
    const assembly = synth.app.synth();
    const manifest = JSON.parse(
      readFileSync(join(assembly.directory, `${staging.artifactId}.assets.json`), 'utf8'),
    ) as {
      dockerImages: Record<string, { source: { directory: string; dockerFile: string; platform: string } }>;
    };
    const images = Object.values(manifest.dockerImages);
    expect(images).toHaveLength(1);
    const source = images[0]?.source;
    expect(source).toMatchObject({ dockerFile: DATA_TASK_DOCKERFILE, platform: 'linux/arm64' });
    const context = join(assembly.directory, source?.directory ?? '');
    expect(readdirSync(context).sort()).toEqual(
      [
        '.dockerignore',
        'docker',
        'functions',
        'package-lock.json',
        'package.json',
        'tasks',
        'tsconfig.json',
      ].sort(),
    );
    expect(existsSync(join(context, 'tasks/data/task.ts'))).toBe(true);
    expect(existsSync(join(context, DATA_TASK_DOCKERFILE))).toBe(true);
  });

  it('the Dockerfile builds the task with esbuild after npm ci, keeps error names, runs as non-root', () => {
    const dockerfile = readFileSync(join(__dirname, '..', '..', DATA_TASK_DOCKERFILE), 'utf8');
    expect(dockerfile).toMatch(/^FROM node:\$\{NODE_VERSION\}-bookworm-slim AS build$/m);
    expect(dockerfile).toMatch(/^ARG NODE_VERSION=(22|24)$/m);
    expect(dockerfile).toMatch(/RUN npm ci/);
    expect(dockerfile).toMatch(/esbuild tasks\/data\/task\.ts --bundle[^\n]*\n[^\n]*--keep-names/);
    expect(dockerfile).toMatch(/postgresql-client-\$\{PG_MAJOR\}/);
    expect(dockerfile).toMatch(/^ARG PG_MAJOR=15$/m);
    expect(dockerfile).toMatch(/^USER switchback:switchback$/m);
    expect(dockerfile.trimEnd().split('\n').at(-1)).toBe('CMD ["node", "data-task.js"]');
  });
});

describe('data task roles', () => {
  const task = dataOf(staging).task;
  const bucket = flat(staging, staging.backups.bucket.bucketArn);
  const key = flat(staging, staging.backups.encryptionKey?.keyArn ?? '');

  it('task role: backups/<env>/ and task-results/<env>/ only, the key through S3, EFS through the access point', () => {
    const statements = statementsOf(staging, task.taskRole);
    expect(grantPairs(statements)).toEqual(
      [
        ...[
          's3:GetObject',
          's3:PutObject',
          's3:AbortMultipartUpload',
          's3:DeleteObject',
          's3:GetObjectTagging',
          's3:PutObjectTagging',
        ].map((a) => `${a} on ${bucket}/backups/staging/*`),
        `s3:ListBucket on ${bucket}`,
        `s3:PutObject on ${bucket}/task-results/staging/*`,
        `kms:GenerateDataKey on ${key}`,
        `kms:Decrypt on ${key}`,
        `elasticfilesystem:ClientMount on ${ARN}:elasticfilesystem:${REGION_ACCOUNT}:file-system/fs-0a1b2c3d4e5f60718`,
        `elasticfilesystem:ClientWrite on ${ARN}:elasticfilesystem:${REGION_ACCOUNT}:file-system/fs-0a1b2c3d4e5f60718`,
      ].sort(),
    );
    expect(withAction(statements, 's3:ListBucket')[0]?.condition).toEqual({
      StringLike: { 's3:prefix': ['backups/staging/*'] },
    });
    expect(withAction(statements, 'kms:Decrypt')[0]?.condition).toEqual({
      StringEquals: {
        'kms:ViaService': { 'Fn::Join': ['', ['s3.', { Ref: 'AWS::Region' }, '.amazonaws.com']] },
      },
    });
    const efs = withAction(statements, 'elasticfilesystem:ClientMount')[0];
    expect(JSON.stringify(efs?.condition)).toContain('elasticfilesystem:AccessPointArn');
    expect(JSON.stringify(efs?.condition)).toContain(':access-point/fsap-0a1b2c3d4e5f60718');
  });

  it('execution role: pull the image, write its log group, read the one password parameter', () => {
    const grants = grantPairs(statementsOf(staging, task.executionRole));
    const logs = flat(staging, task.logGroup.logGroupArn);
    const parameter = `${ARN}:ssm:${REGION_ACCOUNT}:parameter/memory/staging/postgres-password`;
    expect(grants.filter((g) => !g.startsWith('ecr:'))).toEqual(
      [
        `logs:CreateLogStream on ${logs}`,
        `logs:PutLogEvents on ${logs}`,
        ...['ssm:DescribeParameters', 'ssm:GetParameters', 'ssm:GetParameter', 'ssm:GetParameterHistory'].map(
          (a) => `${a} on ${parameter}`,
        ),
      ].sort(),
    );
    const ecr = grants.filter((g) => g.startsWith('ecr:'));
    expect(ecr).toContain('ecr:GetAuthorizationToken on *');
    for (const g of ecr.filter((x) => !x.startsWith('ecr:GetAuthorizationToken'))) {
      expect(g).toMatch(/ on arn:<AWS::Partition>:ecr:<AWS::Region>:<AWS::AccountId>:repository\/cdk-/);
    }
  });

  it('both roles trust ECS tasks of this account only, and carry no managed policy', () => {
    for (const role of [task.taskRole, task.executionRole]) {
      const props = resourceOf(template, staging, role).Properties;
      expect(props.ManagedPolicyArns).toBeUndefined();
      expect(props.AssumeRolePolicyDocument).toMatchObject({
        Statement: [
          {
            Action: 'sts:AssumeRole',
            Effect: 'Allow',
            Principal: { Service: 'ecs-tasks.amazonaws.com' },
            Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } },
          },
        ],
      });
    }
  });

  it('a SQLite-only task has no libpq settings, no secret and no PostgreSQL grant', () => {
    const { container } = containerOf(sqliteStack);
    expect((container.Environment as { Name: string }[]).map((e) => e.Name)).toEqual(['SWITCHBACK_CONFIG']);
    expect(container.Secrets).toBeUndefined();
    const exec = grantPairs(statementsOf(sqliteStack, dataOf(sqliteStack).task.executionRole));
    expect(exec.filter((g) => /^(ssm|secretsmanager|kms):/.test(g))).toEqual([]);
  });
});

describe('backup and restore state machines (staging)', () => {
  const data = dataOf(staging);
  const family = data.task.taskDefinition.family;
  const cluster = `${ARN}:ecs:${REGION_ACCOUNT}:cluster/memory-staging`;
  const rule = `${ARN}:events:${REGION_ACCOUNT}:rule/StepFunctionsGetEventsForECSTaskRule`;

  describe.each(DATA_PROCEDURES)('%s', (name) => {
    const procedure = data.procedures[name];
    const statements = statementsOf(staging, procedure.stateMachine.role as Role);
    const grants = grantPairs(statements);

    it('may run only the data task family, on the memory cluster only', () => {
      const run = withAction(statements, 'ecs:RunTask');
      expect(run).toHaveLength(1);
      expect(run[0]?.resources).toEqual([`${ARN}:ecs:${REGION_ACCOUNT}:task-definition/${family}:*`]);
      expect(staging.resolve(run[0]?.condition)).toEqual({
        ArnEquals: { 'ecs:cluster': staging.resolve(data.task.cluster.clusterArn) },
      });
      expect(flat(staging, data.task.cluster.clusterArn)).toBe(cluster);
    });

    it('may pass exactly the task and execution roles, to ECS only', () => {
      const pass = withAction(statements, 'iam:PassRole');
      expect(pass).toHaveLength(1);
      expect(pass[0]?.resources.sort()).toEqual(
        [flat(staging, data.task.taskRole.roleArn), flat(staging, data.task.executionRole.roleArn)].sort(),
      );
      expect(pass[0]?.condition).toEqual({
        StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' },
      });
    });

    it('may follow and stop only tasks of that cluster, and manage the ECS sync rule', () => {
      const tasks = `${ARN}:ecs:${REGION_ACCOUNT}:task/memory-staging/*`;
      expect(grants.filter((g) => /^(ecs:(Describe|Stop)|events:)/.test(g))).toEqual(
        [
          `ecs:DescribeTasks on ${tasks}`,
          `ecs:StopTask on ${tasks}`,
          `events:PutTargets on ${rule}`,
          `events:PutRule on ${rule}`,
          `events:DescribeRule on ${rule}`,
        ].sort(),
      );
      expect(withAction(statements, 'ecs:StopTask')[0]?.condition).toEqual(
        withAction(statements, 'ecs:RunTask')[0]?.condition,
      );
    });

    it('substitutes the cluster and the task definition (with its revision)', () => {
      const sm = resourceOf(template, staging, procedure.stateMachine).Properties;
      const subs = sm.DefinitionSubstitutions as Record<string, unknown>;
      expect(subs.DataTaskClusterArn).toEqual(staging.resolve(data.task.cluster.clusterArn));
      expect(subs.DataTaskDefinitionArn).toEqual(staging.resolve(data.task.taskDefinition.taskDefinitionArn));
    });

    it('is published for the CLI under /switchback/<env>/procedures/', () => {
      const params = template.findResources('AWS::SSM::Parameter', {
        Properties: { Name: procedureParameterName({ name: 'staging' }, name) },
      });
      expect(Object.values(params).map((p) => p.Properties.Value)).toEqual([
        staging.resolve(procedure.stateMachine.stateMachineArn),
      ]);
    });
  });

  it('only the restores take the lock, and the janitor guards exactly those', () => {
    expect(LOCKING_DATA_PROCEDURES).toEqual(['restore-postgres', 'restore-sqlite']);
    for (const name of DATA_PROCEDURES) {
      expect(Procedure.definition(name).includes(`\${LockTableName}`), name).toBe(
        (LOCKING_DATA_PROCEDURES as readonly string[]).includes(name),
      );
    }
    const pattern = resourceOf(template, staging, staging.lock.rule as never).Properties.EventPattern as {
      detail: { stateMachineArn: unknown[] };
    };
    for (const name of DATA_PROCEDURES) {
      expect(
        pattern.detail.stateMachineArn.some(
          (a) =>
            JSON.stringify(a) ===
            JSON.stringify(staging.resolve(data.procedures[name].stateMachine.stateMachineArn)),
        ),
        name,
      ).toBe(name !== 'backup');
    }
  });
});

describe('data steps (least privilege)', () => {
  const bucket = flat(staging, staging.backups.bucket.bucketArn);
  const key = flat(staging, staging.backups.encryptionKey?.keyArn ?? '');
  const nonBaseline = (
    stack: SwitchbackStack,
    step: 'data-result' | 'backup-catalog' | 'scale-service' | 'check-stable',
  ) => grantPairs(statementsOf(stack, stack.functions[step].role)).filter((g) => !/^(logs|xray):/.test(g));

  it('data-result may only read task-results/<env>/', () => {
    expect(nonBaseline(staging, 'data-result')).toEqual(
      [
        `s3:GetObject on ${bucket}/task-results/staging/*`,
        `s3:ListBucket on ${bucket}`,
        `kms:Decrypt on ${key}`,
      ].sort(),
    );
    expect(
      withAction(statementsOf(staging, staging.functions['data-result'].role), 's3:ListBucket')[0]?.condition,
    ).toEqual({
      StringLike: { 's3:prefix': ['task-results/staging/*'] },
    });
  });

  it('backup-catalog may list and read backups/<env>/ and set their tags, never write or delete them; it journals the restore point', () => {
    expect(nonBaseline(staging, 'backup-catalog')).toEqual(
      [
        `dynamodb:PutItem on ${flat(staging, staging.journal.table.tableArn)}`,
        `s3:GetObject on ${bucket}/backups/staging/*`,
        `s3:GetObjectTagging on ${bucket}/backups/staging/*`,
        `s3:PutObjectTagging on ${bucket}/backups/staging/*`,
        `s3:ListBucket on ${bucket}`,
        `kms:Decrypt on ${key}`,
      ].sort(),
    );
  });

  it('scale-service may describe and update only the writer services; check-stable may describe them', () => {
    const service = (s: string) => `${ARN}:ecs:${REGION_ACCOUNT}:service/memory-test/${s}`;
    expect(nonBaseline(smStack, 'scale-service')).toEqual(
      ['memory-api', 'memory-sidecar']
        .flatMap((s) => [`ecs:DescribeServices on ${service(s)}`, `ecs:UpdateService on ${service(s)}`])
        .sort(),
    );
    expect(nonBaseline(smStack, 'check-stable')).toEqual(
      ['memory-api', 'memory-sidecar'].map((s) => `ecs:DescribeServices on ${service(s)}`).sort(),
    );
    const staged = `${ARN}:ecs:${REGION_ACCOUNT}:service/memory-staging/memory-api`;
    expect(nonBaseline(staging, 'scale-service')).toEqual([
      `ecs:DescribeServices on ${staged}`,
      `ecs:UpdateService on ${staged}`,
    ]);
  });
});

describe('backup bucket lifecycle', () => {
  const rules = (stack: SwitchbackStack) =>
    (
      resourceOf(Template.fromStack(stack), stack, stack.backups.bucket).Properties
        .LifecycleConfiguration as {
        Rules: Record<string, unknown>[];
      }
    ).Rules;

  it('expires current backups tagged switchback:expirable=true after backupRetentionDays, and task results after a few days', () => {
    expect(rules(staging)).toEqual(
      expect.arrayContaining([
        {
          Id: 'expire-expirable-backups',
          Prefix: 'backups/',
          TagFilters: [{ Key: 'switchback:expirable', Value: 'true' }],
          ExpirationInDays: 30,
          Status: 'Enabled',
        },
        { Id: 'expire-task-results', Prefix: 'task-results/', ExpirationInDays: 7, Status: 'Enabled' },
      ]),
    );
    expect(rules(sqliteStack).find((r) => r.Id === 'expire-expirable-backups')?.ExpirationInDays).toBe(7);
  });

  it('no rule expires untagged or protected backups, and versions stay recoverable', () => {
    for (const r of rules(staging)) {
      if (r.Id === 'expire-task-results' || r.ExpirationInDays === undefined) continue;
      expect(r.TagFilters).toEqual([{ Key: 'switchback:expirable', Value: 'true' }]);
    }
    expect(rules(staging).find((r) => r.Id === 'expire-noncurrent-versions')).toBeDefined();
  });
});

describe('backup schedule', () => {
  const schedulesOf = (stack: SwitchbackStack) =>
    Object.values(Template.fromStack(stack).findResources('AWS::Scheduler::Schedule')) as {
      Properties: Record<string, unknown>;
    }[];

  it('starts backup daily at 03:00 UTC for each configured database, with the scheduled purpose', () => {
    const data = dataOf(staging);
    const schedules = schedulesOf(staging);
    expect(schedules).toHaveLength(2);
    const inputs = schedules.map((s) => {
      expect(s.Properties).toMatchObject({
        ScheduleExpression: 'cron(0 3 * * ? *)',
        ScheduleExpressionTimezone: 'Etc/UTC',
        State: 'ENABLED',
      });
      const target = s.Properties.Target as { Arn: unknown; RoleArn: unknown; Input: string };
      expect(target.Arn).toEqual(staging.resolve(data.procedures.backup.stateMachine.stateMachineArn));
      expect(target.RoleArn).toEqual(staging.resolve(data.scheduleRole?.roleArn));
      return JSON.parse(target.Input) as unknown;
    });
    expect(inputs).toEqual(
      expect.arrayContaining([
        { store: 'postgres', database: 'memory', reason: 'scheduled backup', purpose: 'scheduled' },
        { store: 'sqlite', database: 'memory', reason: 'scheduled backup', purpose: 'scheduled' },
      ]),
    );
    expect(schedulesOf(sqliteStack).map((s) => s.Properties.ScheduleExpression)).toEqual([
      'cron(30 2 ? * SUN *)',
      'cron(30 2 ? * SUN *)',
    ]);
  });

  it('the schedule role may only start backup and dead-letter a failed start, and only EventBridge Scheduler of this account assumes it', () => {
    const data = dataOf(staging);
    const role = data.scheduleRole as Role;
    expect(grantPairs(statementsOf(staging, role))).toEqual([
      `sqs:SendMessage on ${flat(staging, data.scheduleDeadLetters?.queueArn)}`,
      `states:StartExecution on ${flat(staging, data.procedures.backup.stateMachine.stateMachineArn)}`,
    ]);
    expect(resourceOf(template, staging, role).Properties.AssumeRolePolicyDocument).toEqual({
      Version: '2012-10-17',
      Statement: [
        {
          Action: 'sts:AssumeRole',
          Effect: 'Allow',
          Principal: { Service: 'scheduler.amazonaws.com' },
          Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } },
        },
      ],
    });
  });

  it('a start that fails every retry goes to an encrypted dead-letter queue, and an alarm tells the topic', () => {
    const data = dataOf(staging);
    const queue = resourceOf(template, staging, data.scheduleDeadLetters as never);
    expect(queue.Properties).toMatchObject({
      SqsManagedSseEnabled: true,
      MessageRetentionPeriod: 14 * 24 * 3600,
    });
    for (const s of schedulesOf(staging)) {
      const target = s.Properties.Target as { DeadLetterConfig: { Arn: unknown }; RetryPolicy: unknown };
      expect(target.DeadLetterConfig.Arn).toEqual(staging.resolve(data.scheduleDeadLetters?.queueArn));
      expect(target.RetryPolicy).toEqual({ MaximumEventAgeInSeconds: 3600, MaximumRetryAttempts: 3 });
      // The databases' backups spread over a quarter of an hour instead of all starting at once.
      expect(s.Properties.FlexibleTimeWindow).toEqual({ Mode: 'FLEXIBLE', MaximumWindowInMinutes: 15 });
    }
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm')).filter(
      (a) => a.Properties.MetricName === 'ApproximateNumberOfMessagesVisible',
    );
    expect(alarms).toHaveLength(1);
    expect(alarms[0]?.Properties).toMatchObject({
      Namespace: 'AWS/SQS',
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      AlarmActions: [staging.resolve(staging.notifications.topic.topicArn)],
    });
  });

  it('a disabled schedule deploys none', () => {
    expect(schedulesOf(smStack)).toEqual([]);
    expect(dataOf(smStack).scheduleRole).toBeUndefined();
  });
});

describe('a stage without data (backups.none)', () => {
  const t = Template.fromStack(prod);

  it('deploys no data task, data procedure, schedule or data lifecycle rule', () => {
    expect(prod.data).toBeUndefined();
    t.resourceCountIs('AWS::ECS::TaskDefinition', 0);
    t.resourceCountIs('AWS::Scheduler::Schedule', 0);
    const params = Object.values(t.findResources('AWS::SSM::Parameter')).map(
      (p) => p.Properties.Name as string,
    );
    for (const name of DATA_PROCEDURES) expect(params).not.toContain(`/switchback/plain/procedures/${name}`);
    const ids = (
      resourceOf(t, prod, prod.backups.bucket).Properties.LifecycleConfiguration as {
        Rules: { Id: string }[];
      }
    ).Rules.map((r) => r.Id);
    expect(ids).not.toContain('expire-expirable-backups');
    expect(ids).not.toContain('expire-task-results');
    const json = JSON.stringify(t.toJSON());
    expect(json).not.toContain('StepFunctionsGetEventsForECSTaskRule');
    expect(json).not.toContain('iam:PassRole');
  });

  it("the cutover's backup step names no deployed state machine there, and is granted nothing", () => {
    const cutover = prod.procedures['provider-cutover'];
    const subs = resourceOf(t, prod, cutover.stateMachine).Properties.DefinitionSubstitutions as Record<
      string,
      unknown
    >;
    if (!('BackupStateMachineArn' in subs)) {
      expect(Procedure.placeholders(Procedure.definition('provider-cutover'))).not.toContain(
        'BackupStateMachineArn',
      );
      return;
    }
    expect(flat(prod, subs.BackupStateMachineArn)).toBe(
      `${ARN}:states:${REGION_ACCOUNT}:stateMachine:switchback-plain-backup-not-deployed`,
    );
    const starts = grantPairs(statementsOf(prod, cutover.stateMachine.role as Role)).filter((g) =>
      g.startsWith('states:StartExecution'),
    );
    expect(starts).toEqual([
      `states:StartExecution on ${flat(prod, prod.procedures['provider-rollback'].stateMachine.stateMachineArn)}`,
    ]);
  });
});

describe('cdk-nag on the data stages', () => {
  it('finds nothing unacknowledged in staging, a Secrets Manager stage and a SQLite-only stage', () => {
    for (const app of [synth.app, variants.app]) {
      const report = new AwsSolutionsChecks().validateScope(app);
      const findings = report.violations.map(
        (v) => `${v.ruleName} at ${v.violatingResources.map((r) => r.constructPath).join(', ')}`,
      );
      expect(findings).toEqual([]);
    }
  });

  it('acknowledges with reasons: env vars that are config only, the family and task wildcards, the data prefixes', () => {
    const acks = staging.node
      .findAll()
      .filter((c) => c.node.path.includes('/Data/'))
      .flatMap((c) =>
        c.node.metadata
          .filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
          .flatMap((m) =>
            Object.entries(m.data as Record<string, string>).map(([id, reason]) => ({ id, reason })),
          ),
      );
    const byRule = (re: RegExp) => acks.filter((a) => re.test(a.id));
    expect(byRule(/AwsSolutions-ECS2/)).toHaveLength(1);
    expect(byRule(/AwsSolutions-ECS2/)[0]?.reason).toMatch(/PGPASSWORD.*secrets/);
    expect(byRule(/task-definition\/.*:\*/)).toHaveLength(DATA_PROCEDURES.length);
    expect(byRule(/:task\/memory-staging\/\*/)).toHaveLength(DATA_PROCEDURES.length);
    expect(byRule(/backups\/staging\/\*/)).toHaveLength(1);
    expect(byRule(/task-results\/staging\/\*/)).toHaveLength(1);
    for (const a of acks) expect(a.reason.length, a.id).toBeGreaterThan(60);
  });
});

describe('Procedure: ecs:runTask grants', () => {
  const scratch = scratchApp();
  const dir = mkdtempSync(join(tmpdir(), 'switchback-run-'));
  afterAll(() => {
    scratch.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });
  let n = 0;

  /** A task target; `retained` keeps its previous revision ACTIVE across deploys (as DataTask does). */
  function target(stack: Stack, id: string, retained = true): EcsTaskTarget {
    const taskRole = new Role(stack, `${id}TaskRole`, {
      assumedBy: new ServicePrincipal('ecs-tasks.amazonaws.com'),
    });
    const executionRole = new Role(stack, `${id}ExecRole`, {
      assumedBy: new ServicePrincipal('ecs-tasks.amazonaws.com'),
    });
    const taskDefinition = new FargateTaskDefinition(stack, `${id}Def`, { taskRole, executionRole });
    taskDefinition.addContainer('c', { image: ContainerImage.fromRegistry('public.ecr.aws/x/y:1') });
    if (retained) {
      (taskDefinition.node.defaultChild as CfnResource).cfnOptions.updateReplacePolicy =
        CfnDeletionPolicy.RETAIN;
    }
    const cluster = Cluster.fromClusterArn(
      stack,
      `${id}Cluster`,
      `arn:aws:ecs:eu-west-1:123456789012:cluster/${id}`,
    );
    return { cluster, taskDefinition, taskRole, executionRole };
  }

  function run(
    resource: string,
    parameters: Record<string, unknown>,
    bindings: (s: Stack) => Record<string, unknown>,
  ) {
    const stack = new Stack(scratch.app, `Run${n++}`);
    const path = join(dir, `run${n}.asl.json`);
    writeFileSync(
      path,
      JSON.stringify({
        StartAt: 'Run',
        States: { Run: { Type: 'Task', Resource: resource, Parameters: parameters, End: true } },
      }),
    );
    const p = new Procedure(stack, 'P', {
      name: 'run',
      bindings: bindings(stack) as never,
      logRetention: RetentionDays.ONE_DAY,
      alarmTopic: new Topic(stack, 'T'),
      definitionPath: path,
    });
    return { stack, procedure: p };
  }

  const params = { Cluster: `\${C}`, TaskDefinition: `\${T}`, LaunchType: 'FARGATE' };

  it('refuses a task definition run on the cluster of another target', () => {
    expect(() =>
      run('arn:aws:states:::ecs:runTask.sync', params, (s) => ({
        C: { ecsCluster: target(s, 'a') },
        T: { ecsTask: target(s, 'b') },
      })),
    ).toThrow('runs a task definition on the cluster of another task target');
  });

  it('refuses a task definition whose previous revision a deploy would deregister (INACTIVE cannot run)', () => {
    expect(() =>
      run('arn:aws:states:::ecs:runTask.sync', params, (s) => {
        const t = target(s, 'a', false);
        return { C: { ecsCluster: t }, T: { ecsTask: t } };
      }),
    ).toThrow(
      /whose previous revision a deploy would deregister: ECS runs no INACTIVE revision.*UpdateReplacePolicy to Retain/,
    );
  });

  it('refuses a role override (it would need PassRole on a role it does not know)', () => {
    expect(() =>
      run(
        'arn:aws:states:::ecs:runTask.sync',
        { ...params, Overrides: { 'TaskRoleArn.$': '$.role' } },
        (s) => {
          const t = target(s, 'a');
          return { C: { ecsCluster: t }, T: { ecsTask: t } };
        },
      ),
    ).toThrow('overrides TaskRoleArn.$');
  });

  it('refuses a dynamic task definition', () => {
    expect(() =>
      run('arn:aws:states:::ecs:runTask.sync', { Cluster: `\${C}`, 'TaskDefinition.$': '$.td' }, (s) => ({
        C: { ecsCluster: target(s, 'a') },
      })),
    ).toThrow(`must set Parameters.TaskDefinition to a single \${Placeholder}`);
  });

  it('without .sync: RunTask and PassRole only (nothing to follow or stop)', () => {
    const { stack, procedure } = run('arn:aws:states:::ecs:runTask', params, (s) => {
      const t = target(s, 'a');
      return { C: { ecsCluster: t }, T: { ecsTask: t } };
    });
    const grants = grantPairs(roleStatements(stack, procedure.stateMachine.role)).filter(
      (g) => !/^(logs|xray):/.test(g),
    );
    expect(grants.map((g) => g.split(' on ')[0])).toEqual(
      ['iam:PassRole', 'iam:PassRole', 'ecs:RunTask'].sort(),
    );
  });
});
