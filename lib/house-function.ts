import { join } from 'node:path';
import { ArnFormat, type Duration, Stack } from 'aws-cdk-lib';
import { type ISecurityGroup, type ISubnet, SecurityGroup, Subnet, Vpc } from 'aws-cdk-lib/aws-ec2';
import {
  type IGrantable,
  type IPrincipal,
  Policy,
  PolicyStatement,
  Role,
  ServicePrincipal,
} from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { incidentPrefix } from '../functions/incident-report/incident-report';
import type { StepName } from '../functions/index';
import { rolloutLogPrefix } from '../functions/rollout/log';
import { ALARM_CATALOG_ENV, AlarmCatalog } from '../functions/shared/alarm-catalog';
import { RUNTIME_CONFIG_ENV, type RuntimeConfig } from '../functions/shared/config';
import { connectionParameter } from '../functions/shared/database-config';
import type { FlagName } from '../functions/shared/flags';
import { GATE_METRICS_ENV, GateMetricsSpec } from '../functions/shared/gate-metrics';
import type { BackupBucket } from './backup-bucket';
import { dataPrefixes } from './config/data-schema';
import type { StageConfig } from './config/stage';
import { BUNDLING_DEFAULTS, FUNCTION_DEFAULTS } from './defaults';
import type { FlagAccess, Flags } from './flags';
import { acknowledge, acknowledgeWildcardResource, STAR_ONLY_REASONS } from './nag';

const REPO_ROOT = join(__dirname, '..');

/** Environment variables the house function owns; a caller setting one of them is refused. */
export const RESERVED_ENVIRONMENT = [
  RUNTIME_CONFIG_ENV,
  'POWERTOOLS_SERVICE_NAME',
  'POWERTOOLS_LOG_LEVEL',
  'NODE_OPTIONS',
  ALARM_CATALOG_ENV,
  GATE_METRICS_ENV,
] as const;

export type PowertoolsLogLevel = 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';

export interface HouseFunctionProps {
  /** The step: its handler is `functions/<step>/handler.ts`. */
  readonly step: StepName;
  /** What the step reads from `SWITCHBACK_CONFIG` (names and URLs only; never secret values). */
  readonly runtimeConfig: RuntimeConfig;
  /** Retention of the function's own log group. */
  readonly logRetention: RetentionDays;
  /**
   * Maximum run time. Keep it below the `TimeoutSeconds` of every Task that invokes the step
   * (the Procedure construct checks this at synth).
   * @default Duration.seconds(30)
   */
  readonly timeout?: Duration;
  /** @default 256 */
  readonly memorySize?: number;
  /**
   * Extra environment variables, merged with the house ones. Setting a reserved name
   * (`RESERVED_ENVIRONMENT`) is an error rather than a silent overwrite.
   * @default - none
   */
  readonly environment?: Readonly<Record<string, string>>;
  /** @default 'INFO' */
  readonly logLevel?: PowertoolsLogLevel;
  /**
   * Place the function in these subnets and security groups (steps that call private endpoints).
   * Adds the ENI permissions Lambda needs to the role.
   * @default - not in a VPC
   */
  readonly network?: StageConfig['network'];
  /** @default - `Switchback step <step> (<environment>)` */
  readonly description?: string;
}

/** What Lambda needs to attach a function to a VPC (on "*": the interfaces are created at run time). */
export const VPC_ENI_ACTIONS = [
  'ec2:CreateNetworkInterface',
  'ec2:DescribeNetworkInterfaces',
  'ec2:DescribeSubnets',
  'ec2:DeleteNetworkInterface',
  'ec2:AssignPrivateIpAddresses',
  'ec2:UnassignPrivateIpAddresses',
] as const;

/**
 * The one way Switchback builds a step Lambda: Node.js 24 on arm64, explicit timeout and memory,
 * X-Ray tracing, its own log group with retention, local esbuild bundling, and its own role with
 * no managed policy. Permissions come only from the `bind*` methods, each of which checks the
 * resource against the step's runtime configuration and grants exactly what the step's code calls.
 */
export class HouseFunction extends Construct implements IGrantable {
  public readonly step: StepName;
  public readonly function: NodejsFunction;
  public readonly role: Role;
  public readonly logGroup: LogGroup;
  public readonly timeout: Duration;
  public readonly runtimeConfig: RuntimeConfig;
  public readonly grantPrincipal: IPrincipal;

  constructor(scope: Construct, id: string, props: HouseFunctionProps) {
    super(scope, id);
    const clash = Object.keys(props.environment ?? {}).filter((k) =>
      (RESERVED_ENVIRONMENT as readonly string[]).includes(k),
    );
    if (clash.length)
      throw new Error(`HouseFunction ${props.step}: environment sets reserved ${clash.join(', ')}`);

    this.step = props.step;
    this.runtimeConfig = props.runtimeConfig;
    this.timeout = props.timeout ?? FUNCTION_DEFAULTS.timeout;

    this.role = new Role(this, 'Role', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: `Switchback step ${props.step} (${props.runtimeConfig.environment})`,
    });
    this.grantPrincipal = this.role;

    this.logGroup = new LogGroup(this, 'Logs', { retention: props.logRetention });
    this.logGroup.grantWrite(this.role);

    const network = props.network ? this.placement(props.network) : undefined;

    this.function = new NodejsFunction(this, 'Function', {
      ...FUNCTION_DEFAULTS,
      description: props.description ?? `Switchback step ${props.step} (${props.runtimeConfig.environment})`,
      entry: join(REPO_ROOT, 'functions', props.step, 'handler.ts'),
      projectRoot: REPO_ROOT,
      depsLockFilePath: join(REPO_ROOT, 'package-lock.json'),
      memorySize: props.memorySize ?? FUNCTION_DEFAULTS.memorySize,
      timeout: this.timeout,
      role: this.role,
      logGroup: this.logGroup,
      bundling: { ...BUNDLING_DEFAULTS, externalModules: [...BUNDLING_DEFAULTS.externalModules] },
      environment: {
        ...props.environment,
        [RUNTIME_CONFIG_ENV]: Stack.of(this).toJsonString(props.runtimeConfig),
        POWERTOOLS_SERVICE_NAME: 'switchback',
        POWERTOOLS_LOG_LEVEL: props.logLevel ?? 'INFO',
        // The bundle ships a source map; without this flag stack traces point into minified code.
        NODE_OPTIONS: '--enable-source-maps',
      },
      ...(network ?? {}),
    });

    acknowledge(
      this.role,
      'AwsSolutions-IAM5[Resource::*]',
      props.network ? `${STAR_ONLY_REASONS.xray} ${STAR_ONLY_REASONS.vpcEni}` : STAR_ONLY_REASONS.xray,
    );
  }

  /** ARN to invoke (unqualified: the latest code). */
  get functionArn(): string {
    return this.function.functionArn;
  }

  /**
   * Lets the step read (or read and write) the named flags. The flags must live under the prefix
   * the step's runtime config names, or the grant would not match what the code reads.
   */
  bindFlags(flags: Flags, names: readonly FlagName[], access: FlagAccess): this {
    if (flags.prefix !== this.runtimeConfig.flagPrefix) {
      throw new Error(
        `HouseFunction ${this.step}: flags under ${flags.prefix} but the step reads ${this.runtimeConfig.flagPrefix}`,
      );
    }
    flags.grant(this, names, access);
    return this;
  }

  /**
   * Lets the step call ECS on one service of the configured cluster: `describe` grants
   * `ecs:DescribeServices`, `update` grants `ecs:UpdateService`, both on that service's ARN only.
   */
  bindService(
    service: keyof RuntimeConfig['services'] & ('api' | 'sidecar'),
    access: 'describe' | 'update',
  ): this {
    const { cluster } = this.runtimeConfig.services;
    const name = this.runtimeConfig.services[service];
    const arn = Stack.of(this).formatArn({
      service: 'ecs',
      resource: 'service',
      resourceName: `${cluster}/${name}`,
    });
    this.role.addToPrincipalPolicy(
      new PolicyStatement({
        actions: [access === 'update' ? 'ecs:UpdateService' : 'ecs:DescribeServices'],
        resources: [arn],
      }),
    );
    return this;
  }

  /**
   * Lets the step read and write change records: `s3:GetObject`/`s3:PutObject` on
   * `<bucket>/<prefix>/*`, `s3:ListBucket` on the bucket only for keys under the prefix, and the
   * bucket key's `kms:GenerateDataKey`/`kms:Decrypt` only through S3. With `read`, only
   * `s3:GetObject`, the prefix-conditioned list and `kms:Decrypt`.
   */
  bindChangeRecords(
    backups: BackupBucket,
    prefix: string,
    access: 'read' | 'read-write' = 'read-write',
  ): this {
    const expected = this.runtimeConfig.changeRecords.prefix;
    if (prefix !== expected) {
      throw new Error(
        `HouseFunction ${this.step}: change records under ${prefix} but the step uses ${expected}`,
      );
    }
    const { bucket, encryptionKey } = backups;
    const objects = bucket.arnForObjects(`${prefix}/*`);
    const write = access === 'read-write';
    this.role.addToPrincipalPolicy(
      new PolicyStatement({
        actions: write ? ['s3:GetObject', 's3:PutObject'] : ['s3:GetObject'],
        resources: [objects],
      }),
    );
    this.role.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['s3:ListBucket'],
        resources: [bucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': [`${prefix}/*`] } },
      }),
    );
    if (encryptionKey)
      this.grantKeyVia(encryptionKey, 's3', write ? ['kms:GenerateDataKey', 'kms:Decrypt'] : ['kms:Decrypt']);
    acknowledgeWildcardResource(
      this.role,
      objects,
      `Change records are one object per change id, created at run time: the grant is limited to keys under ${prefix}/.`,
    );
    return this;
  }

  /**
   * Lets the step write incident reports: `s3:PutObject` on `<bucket>/incidents/<env>/*` and the
   * bucket key's `kms:GenerateDataKey` through S3. It can neither read nor list them.
   */
  bindIncidentReports(backups: BackupBucket): this {
    return this.bindReportWrites(
      backups,
      incidentPrefix(this.runtimeConfig.environment),
      'Incident reports are objects named after the router execution',
    );
  }

  /** Lets the drill step write its reports, likewise: `s3:PutObject` under `drills/<env>/` only. */
  bindDrillReports(backups: BackupBucket): this {
    return this.bindReportWrites(
      backups,
      `drills/${this.runtimeConfig.environment}`,
      'Drill reports are objects named after the drill execution',
    );
  }

  /** Write-only access to reports under one prefix of the backup bucket (and the key through S3). */
  private bindReportWrites(backups: BackupBucket, prefix: string, what: string): this {
    const objects = backups.bucket.arnForObjects(`${prefix}/*`);
    this.role.addToPrincipalPolicy(new PolicyStatement({ actions: ['s3:PutObject'], resources: [objects] }));
    if (backups.encryptionKey) this.grantKeyVia(backups.encryptionKey, 's3', ['kms:GenerateDataKey']);
    acknowledgeWildcardResource(
      this.role,
      objects,
      `${what}, created at run time: the grant is limited to writing keys under ${prefix}/.`,
    );
    return this;
  }

  /**
   * Lets the step publish metrics (`cloudwatch:PutMetricData`) to one namespace only. The action
   * has no resource-level permissions: the grant is on "*" with a `cloudwatch:namespace`
   * condition, in a policy of its own so its cdk-nag acknowledgement gives exactly that reason.
   */
  bindMetrics(namespace: string): this {
    const policy = new Policy(this, 'MetricsPolicy', {
      statements: [
        new PolicyStatement({
          actions: ['cloudwatch:PutMetricData'],
          resources: ['*'],
          conditions: { StringEquals: { 'cloudwatch:namespace': namespace } },
        }),
      ],
    });
    policy.attachToRole(this.role);
    acknowledge(policy, 'AwsSolutions-IAM5[Resource::*]', STAR_ONLY_REASONS.metrics);
    return this;
  }

  /**
   * Gives a rollback router step the alarm catalog (rollback alarms and their decisions) as the
   * `SWITCHBACK_ALARMS` environment variable. Grants nothing.
   */
  bindAlarmCatalog(catalog: AlarmCatalog): this {
    if (catalog.environment !== this.runtimeConfig.environment) {
      throw new Error(
        `HouseFunction ${this.step}: alarm catalog of ${catalog.environment} but the step runs in ${this.runtimeConfig.environment}`,
      );
    }
    this.function.addEnvironment(ALARM_CATALOG_ENV, JSON.stringify(AlarmCatalog.parse(catalog)));
    return this;
  }

  /**
   * Lets a data step work the backup catalog of its environment (`backups/<env>/`): list backups
   * and read their manifests (`s3:ListBucket` for keys under the prefix, `s3:GetObject`), read and
   * set the retention tag (`s3:GetObjectTagging`, `s3:PutObjectTagging`), and decrypt with the
   * bucket key through S3. Nothing else: it never writes or deletes a backup.
   */
  bindBackupCatalog(backups: BackupBucket): this {
    const prefix = this.dataPrefix('backups');
    const objects = backups.grantPrefix(this, prefix, {
      actions: ['s3:GetObject', 's3:GetObjectTagging', 's3:PutObjectTagging'],
      list: true,
      keyActions: ['kms:Decrypt'],
    });
    acknowledgeWildcardResource(
      this.role,
      objects,
      `Backups and their manifests are objects named at run time (one per backup id): the grant is limited to keys under ${prefix}/.`,
    );
    return this;
  }

  /**
   * Lets a data step read what the data task recorded (`task-results/<env>/*`): `s3:GetObject`,
   * `s3:ListBucket` for keys under the prefix (so a missing result reads as absent, not denied),
   * and decrypt with the bucket key through S3.
   */
  bindTaskResults(backups: BackupBucket): this {
    const prefix = this.dataPrefix('taskResults');
    const objects = backups.grantPrefix(this, prefix, {
      actions: ['s3:GetObject'],
      list: true,
      keyActions: ['kms:Decrypt'],
    });
    acknowledgeWildcardResource(
      this.role,
      objects,
      `Data task results are one object per execution and step, named at run time: the grant is limited to keys under ${prefix}/.`,
    );
    return this;
  }

  /**
   * Lets the step read and write rollout logs (`rollouts/<env>/*`: the JSON record and its
   * Markdown): `s3:GetObject`/`s3:PutObject` there, `s3:ListBucket` for keys under the prefix (a
   * missing log reads as absent, not denied), and the bucket key's `kms:GenerateDataKey`/
   * `kms:Decrypt` only through S3.
   */
  bindRolloutLogs(backups: BackupBucket): this {
    const prefix = rolloutLogPrefix(this.runtimeConfig.environment);
    const { bucket, encryptionKey } = backups;
    const objects = bucket.arnForObjects(`${prefix}/*`);
    this.role.addToPrincipalPolicy(
      new PolicyStatement({ actions: ['s3:GetObject', 's3:PutObject'], resources: [objects] }),
    );
    this.role.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['s3:ListBucket'],
        resources: [bucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': [`${prefix}/*`] } },
      }),
    );
    if (encryptionKey) this.grantKeyVia(encryptionKey, 's3', ['kms:GenerateDataKey', 'kms:Decrypt']);
    acknowledgeWildcardResource(
      this.role,
      objects,
      `Rollout logs are one JSON and one Markdown object per rollout id, named at run time: the grant is limited to keys under ${prefix}/.`,
    );
    return this;
  }

  /**
   * Lets the rollout gate read its metrics: sets ${GATE_METRICS_ENV} to the spec and grants
   * `cloudwatch:GetMetricData` (AWS authorizes it on "*" only) and `cloudwatch:DescribeAlarms` on
   * exactly the P0 alarms the spec names (by name, or by name prefix).
   */
  bindGateMetrics(spec: GateMetricsSpec): this {
    const valid = GateMetricsSpec.parse(spec);
    this.function.addEnvironment(GATE_METRICS_ENV, JSON.stringify(valid));
    // A policy of its own, so its cdk-nag acknowledgement gives exactly this reason.
    const reads = new Policy(this, 'GateMetricsPolicy', {
      statements: [new PolicyStatement({ actions: ['cloudwatch:GetMetricData'], resources: ['*'] })],
    });
    reads.attachToRole(this.role);
    acknowledge(reads, 'AwsSolutions-IAM5[Resource::*]', STAR_ONLY_REASONS.metricsRead);
    const stack = Stack.of(this);
    const alarm = (name: string) =>
      stack.formatArn({
        service: 'cloudwatch',
        resource: 'alarm',
        resourceName: name,
        arnFormat: ArnFormat.COLON_RESOURCE_NAME,
      });
    const alarms = [
      ...valid.p0Alarms.names.map(alarm),
      ...(valid.p0Alarms.prefix ? [alarm(`${valid.p0Alarms.prefix}*`)] : []),
    ];
    if (alarms.length) {
      this.role.addToPrincipalPolicy(
        new PolicyStatement({ actions: ['cloudwatch:DescribeAlarms'], resources: alarms }),
      );
    }
    if (valid.p0Alarms.prefix) {
      acknowledgeWildcardResource(
        this.role,
        alarm(`${valid.p0Alarms.prefix}*`),
        `The gate reads the state of the P0 alarms, named by the stage's prefix "${valid.p0Alarms.prefix}": DescribeAlarms on alarms with that prefix only.`,
      );
    }
    return this;
  }

  /**
   * Lets the step read one SecureString parameter (`ssm:GetParameter` on its ARN). A parameter
   * encrypted with the AWS managed `aws/ssm` key needs no KMS grant; pass `key` if it uses a
   * customer managed key.
   */
  bindSecretParameter(parameterName: string, key?: IKey): this {
    if (parameterName !== this.runtimeConfig.secrets.sidecarApiKeyParameter) {
      throw new Error(
        `HouseFunction ${this.step}: ${parameterName} is not a secret parameter in the step's config`,
      );
    }
    const arn = Stack.of(this).formatArn({
      service: 'ssm',
      resource: 'parameter',
      resourceName: parameterName.replace(/^\//, ''),
    });
    this.role.addToPrincipalPolicy(new PolicyStatement({ actions: ['ssm:GetParameter'], resources: [arn] }));
    if (key) this.grantKeyVia(key, 'ssm', ['kms:Decrypt']);
    return this;
  }

  /**
   * Lets a database cutover step read the SecureString parameters it resolves itself: the URLs of
   * the named connections and, with `qdrantKey`, the Qdrant API key (`ssm:GetParameter` on each
   * ARN only). Every name must come from the step's `database` config.
   */
  bindDatabaseSecrets(
    connections: readonly string[],
    options: { qdrantKey?: boolean; key?: IKey } = {},
  ): this {
    const db = this.runtimeConfig.database;
    if (!db) throw new Error(`HouseFunction ${this.step}: the step's config has no database section`);
    const names = connections.map((c) => connectionParameter(db, c));
    if (options.qdrantKey && db.source.qdrant.apiKeyParameter) names.push(db.source.qdrant.apiKeyParameter);
    const arns = names.map((name) =>
      Stack.of(this).formatArn({
        service: 'ssm',
        resource: 'parameter',
        resourceName: name.replace(/^\//, ''),
      }),
    );
    this.role.addToPrincipalPolicy(new PolicyStatement({ actions: ['ssm:GetParameter'], resources: arns }));
    if (options.key) this.grantKeyVia(options.key, 'ssm', ['kms:Decrypt']);
    return this;
  }

  /**
   * Lets a database cutover step read and write its cutovers' objects (checkpoints, evidence,
   * reports): `s3:GetObject`/`s3:PutObject` on `<bucket>/<reportPrefix>/<env>/*`, `s3:ListBucket`
   * only for keys under it, and the bucket key through S3. `read` leaves out the writes.
   */
  bindDatabaseCutovers(backups: BackupBucket, access: 'read' | 'read-write' = 'read-write'): this {
    const db = this.runtimeConfig.database;
    if (!db) throw new Error(`HouseFunction ${this.step}: the step's config has no database section`);
    const prefix = `${db.reportPrefix.replace(/\/+$/, '')}/${this.runtimeConfig.environment}`;
    const { bucket, encryptionKey } = backups;
    const objects = bucket.arnForObjects(`${prefix}/*`);
    const write = access === 'read-write';
    this.role.addToPrincipalPolicy(
      new PolicyStatement({
        actions: write ? ['s3:GetObject', 's3:PutObject'] : ['s3:GetObject'],
        resources: [objects],
      }),
    );
    this.role.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['s3:ListBucket'],
        resources: [bucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': [`${prefix}/*`] } },
      }),
    );
    if (encryptionKey)
      this.grantKeyVia(encryptionKey, 's3', write ? ['kms:GenerateDataKey', 'kms:Decrypt'] : ['kms:Decrypt']);
    acknowledgeWildcardResource(
      this.role,
      objects,
      `Database cutover checkpoints, evidence and reports are objects per change id, created at run time: the grant is limited to keys under ${prefix}/.`,
    );
    return this;
  }

  private dataPrefix(which: 'backups' | 'taskResults'): string {
    if (!this.runtimeConfig.data) {
      throw new Error(`HouseFunction ${this.step}: the step's config has no data section to grant`);
    }
    return dataPrefixes(this.runtimeConfig.environment)[which];
  }

  private grantKeyVia(key: IKey, service: 's3' | 'ssm', actions: string[]) {
    this.role.addToPrincipalPolicy(
      new PolicyStatement({
        actions,
        resources: [key.keyArn],
        conditions: {
          StringEquals: { 'kms:ViaService': `${service}.${Stack.of(this).region}.amazonaws.com` },
        },
      }),
    );
  }

  private placement(network: NonNullable<StageConfig['network']>) {
    const vpc = Vpc.fromVpcAttributes(this, 'Vpc', {
      vpcId: network.vpcId,
      availabilityZones: network.availabilityZones,
    });
    const subnets: ISubnet[] = network.subnetIds.map((id) => Subnet.fromSubnetId(this, `Subnet-${id}`, id));
    const securityGroups: ISecurityGroup[] = network.securityGroupIds.map((id) =>
      SecurityGroup.fromSecurityGroupId(this, `SecurityGroup-${id}`, id, { mutable: false }),
    );
    this.role.addToPrincipalPolicy(
      new PolicyStatement({
        actions: [...VPC_ENI_ACTIONS],
        resources: ['*'],
      }),
    );
    return { vpc, vpcSubnets: { subnets }, securityGroups };
  }
}
