import { join } from 'node:path';
import { CfnDeletionPolicy, Stack } from 'aws-cdk-lib';
import { Vpc } from 'aws-cdk-lib/aws-ec2';
import { Platform } from 'aws-cdk-lib/aws-ecr-assets';
import {
  type CfnTaskDefinition,
  Cluster,
  type ContainerDefinition,
  ContainerImage,
  CpuArchitecture,
  FargateTaskDefinition,
  type ICluster,
  LogDrivers,
  OperatingSystemFamily,
  Secret,
} from 'aws-cdk-lib/aws-ecs';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Secret as SecretsManagerSecret } from 'aws-cdk-lib/aws-secretsmanager';
import { StringParameter } from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import { RUNTIME_CONFIG_ENV, type RuntimeConfig } from '../functions/shared/config';
import type { BackupBucket } from './backup-bucket';
import { type DataConfig, type DataNetworkConfig, dataPrefixes } from './config/data-schema';
import { DATA_TASK_DEFAULTS } from './defaults';
import { acknowledge, acknowledgeWildcardResource } from './nag';
import type { EcsTaskTarget } from './procedure';

const REPO_ROOT = join(__dirname, '..');

/** The container's name: the ASL's `ContainerOverrides[].Name`. */
export const DATA_TASK_CONTAINER = 'data-task';

/** Dockerfile of the data task image, relative to the repository root (the build context). */
export const DATA_TASK_DOCKERFILE = 'docker/data-task/Dockerfile';

export interface DataTaskProps {
  /** Name of the existing ECS cluster the task runs on (the stage's `services.cluster`). */
  readonly clusterName: string;
  /** The stage's `data` section. */
  readonly data: DataConfig;
  /** Where the task runs (its VPC; the subnets and security groups are chosen per run by the ASL). */
  readonly network: DataNetworkConfig;
  /** What the task reads from `SWITCHBACK_CONFIG` (must carry `data`). */
  readonly runtimeConfig: RuntimeConfig;
  /** Where backups, manifests and task results live. */
  readonly backups: BackupBucket;
  /** Retention of the task's log group. */
  readonly logRetention: RetentionDays;
  /**
   * The image to run.
   * @default - built by the CDK from `docker/data-task/Dockerfile` (repository root as context), linux/arm64
   */
  readonly image?: ContainerImage;
}

/**
 * The data task: `tasks/data/task.ts` in a container on ECS Fargate (Linux, ARM64), started by
 * the backup and restore procedures with `ecs:runTask.sync`. It runs pg_dump / pg_restore against
 * the configured PostgreSQL server (PGPASSWORD injected by ECS from SSM or Secrets Manager; never in
 * the template or an execution) and SQLite backups and restores on the app's EFS access point,
 * mounted with TLS and IAM authorization.
 *
 * Task role: the backups of its environment (`backups/<env>/*`: multipart upload, read, tag,
 * delete; list under the prefix), `task-results/<env>/*` (write only), the bucket key through S3,
 * and EFS client mount/write through the one access point. Execution role: image pull, its own
 * log group, and the one password secret.
 */
export class DataTask extends Construct implements EcsTaskTarget {
  public readonly cluster: ICluster;
  public readonly taskDefinition: FargateTaskDefinition;
  public readonly taskRole: Role;
  public readonly executionRole: Role;
  public readonly container: ContainerDefinition;
  public readonly logGroup: LogGroup;

  constructor(scope: Construct, id: string, props: DataTaskProps) {
    super(scope, id);
    const { data, runtimeConfig } = props;
    if (!runtimeConfig.data) throw new Error('DataTask: runtimeConfig has no data section');
    const environment = runtimeConfig.environment;

    const vpc = Vpc.fromVpcAttributes(this, 'Vpc', {
      vpcId: props.network.vpcId,
      availabilityZones: props.network.availabilityZones,
    });
    this.cluster = Cluster.fromClusterAttributes(this, 'Cluster', { clusterName: props.clusterName, vpc });

    this.taskRole = new Role(this, 'TaskRole', {
      assumedBy: ecsTasksPrincipal(this),
      description: `Switchback data task (${environment}): backups in S3 and the SQLite volume`,
    });
    this.executionRole = new Role(this, 'ExecutionRole', {
      assumedBy: ecsTasksPrincipal(this),
      description: `Switchback data task (${environment}): pull the image, write logs, read the PostgreSQL password`,
    });

    this.taskDefinition = new FargateTaskDefinition(this, 'TaskDefinition', {
      cpu: data.task.cpu,
      memoryLimitMiB: data.task.memoryMiB,
      ephemeralStorageGiB: DATA_TASK_DEFAULTS.ephemeralStorageGiB,
      runtimePlatform: {
        cpuArchitecture: CpuArchitecture.ARM64,
        operatingSystemFamily: OperatingSystemFamily.LINUX,
      },
      taskRole: this.taskRole,
      executionRole: this.executionRole,
    });

    // A deploy replaces the task definition with a new revision; CloudFormation would deregister the
    // old one, and ECS runs no INACTIVE revision, so a restore in flight (whose execution carries
    // the old ARN) would fail its next runTask. Retained, the old revision stays ACTIVE.
    const cfnTask = this.taskDefinition.node.defaultChild as CfnTaskDefinition;
    cfnTask.cfnOptions.updateReplacePolicy = CfnDeletionPolicy.RETAIN;
    // Deleting the stack may deregister it (nothing runs it any more): no DeletionPolicy Retain.
    cfnTask.addMetadata('cfn-lint', { config: { ignore_checks: ['W3011'] } });

    this.logGroup = new LogGroup(this, 'Logs', { retention: props.logRetention });

    const pg = data.postgres;
    this.container = this.taskDefinition.addContainer(DATA_TASK_CONTAINER, {
      containerName: DATA_TASK_CONTAINER,
      image:
        props.image ??
        ContainerImage.fromAsset(REPO_ROOT, { file: DATA_TASK_DOCKERFILE, platform: Platform.LINUX_ARM64 }),
      essential: true,
      readonlyRootFilesystem: DATA_TASK_DEFAULTS.readonlyRootFilesystem,
      logging: LogDrivers.awsLogs({ logGroup: this.logGroup, streamPrefix: DATA_TASK_CONTAINER }),
      environment: {
        [RUNTIME_CONFIG_ENV]: Stack.of(this).toJsonString(runtimeConfig),
        ...(pg
          ? {
              PGHOST: pg.host,
              PGPORT: String(pg.port),
              PGUSER: pg.user,
              ...(pg.sslMode ? { PGSSLMODE: pg.sslMode } : {}),
            }
          : {}),
      },
      ...(pg ? { secrets: { PGPASSWORD: this.passwordSecret(pg) } } : {}),
    });

    // The root file system is read-only; the SQLite backup stages its copy here (TMPDIR in the image).
    this.taskDefinition.addVolume({ name: 'scratch' });
    this.container.addMountPoints({
      sourceVolume: 'scratch',
      containerPath: DATA_TASK_DEFAULTS.scratchPath,
      readOnly: false,
    });

    if (data.sqlite) this.mountSqliteVolume(data.sqlite.efs);
    this.grantBackups(props.backups, environment);

    acknowledge(
      this.taskDefinition,
      'AwsSolutions-ECS2',
      'The environment holds configuration only (SWITCHBACK_CONFIG: names, ids and URLs; PGHOST/PGPORT/PGUSER/PGSSLMODE); the one secret, PGPASSWORD, is injected by ECS from SSM or Secrets Manager through `secrets`.',
    );
    acknowledge(
      this.executionRole,
      'AwsSolutions-IAM5[Resource::*]',
      'ECR image pull: ecr:GetAuthorizationToken supports only Resource "*" (the layer and image actions are granted on the one asset repository).',
    );
  }

  private passwordSecret(pg: NonNullable<DataConfig['postgres']>): Secret {
    const secret = pg.passwordSecret.startsWith('arn:')
      ? Secret.fromSecretsManager(
          SecretsManagerSecret.fromSecretCompleteArn(this, 'PgPasswordSecret', pg.passwordSecret),
          pg.passwordSecretField,
        )
      : Secret.fromSsmParameter(
          StringParameter.fromSecureStringParameterAttributes(this, 'PgPasswordParameter', {
            parameterName: pg.passwordSecret,
          }),
        );
    if (pg.passwordKmsKeyArn) {
      const service = pg.passwordSecret.startsWith('arn:') ? 'secretsmanager' : 'ssm';
      this.executionRole.addToPrincipalPolicy(
        new PolicyStatement({
          actions: ['kms:Decrypt'],
          resources: [pg.passwordKmsKeyArn],
          conditions: {
            StringEquals: { 'kms:ViaService': `${service}.${Stack.of(this).region}.amazonaws.com` },
          },
        }),
      );
    }
    return secret;
  }

  /** The app's EFS access point, mounted with TLS and IAM authorization; the task role may mount it only. */
  private mountSqliteVolume(efs: NonNullable<DataConfig['sqlite']>['efs']): void {
    this.taskDefinition.addVolume({
      name: 'sqlite',
      efsVolumeConfiguration: {
        fileSystemId: efs.fileSystemId,
        transitEncryption: 'ENABLED',
        authorizationConfig: { accessPointId: efs.accessPointId, iam: 'ENABLED' },
      },
    });
    this.container.addMountPoints({ sourceVolume: 'sqlite', containerPath: efs.mountPath, readOnly: false });
    const stack = Stack.of(this);
    this.taskRole.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['elasticfilesystem:ClientMount', 'elasticfilesystem:ClientWrite'],
        resources: [
          stack.formatArn({
            service: 'elasticfilesystem',
            resource: 'file-system',
            resourceName: efs.fileSystemId,
          }),
        ],
        conditions: {
          StringEquals: {
            'elasticfilesystem:AccessPointArn': stack.formatArn({
              service: 'elasticfilesystem',
              resource: 'access-point',
              resourceName: efs.accessPointId,
            }),
          },
        },
      }),
    );
  }

  /** Exactly what tasks/data/task.ts calls on the bucket (S3BlobStore, S3StreamStore). */
  private grantBackups(backups: BackupBucket, environment: string): void {
    const prefixes = dataPrefixes(environment);
    const backupObjects = backups.grantPrefix(this.taskRole, prefixes.backups, {
      actions: [
        's3:GetObject',
        's3:PutObject',
        's3:AbortMultipartUpload',
        's3:DeleteObject',
        's3:GetObjectTagging',
        's3:PutObjectTagging',
      ],
      list: true,
      keyActions: ['kms:GenerateDataKey', 'kms:Decrypt'],
    });
    const resultObjects = backups.grantPrefix(this.taskRole, prefixes.taskResults, {
      actions: ['s3:PutObject'],
    });
    acknowledgeWildcardResource(
      this.taskRole,
      backupObjects,
      `Backups, their manifests and tags are objects named at run time (one per backup id): the grant is limited to keys under ${prefixes.backups}/.`,
    );
    acknowledgeWildcardResource(
      this.taskRole,
      resultObjects,
      `The task records its outcome as one object per execution and step, named at run time: write-only, limited to keys under ${prefixes.taskResults}/.`,
    );
  }
}

/** ECS tasks of this account only (confused deputy protection). */
function ecsTasksPrincipal(scope: Construct): ServicePrincipal {
  const stack = Stack.of(scope);
  return new ServicePrincipal('ecs-tasks.amazonaws.com', {
    conditions: {
      StringEquals: { 'aws:SourceAccount': stack.account },
      ArnLike: {
        'aws:SourceArn': stack.formatArn({ service: 'ecs', resource: '*' }),
      },
    },
  });
}
