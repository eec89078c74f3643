import { posix } from 'node:path';
import { z } from 'zod';
import type { RuntimeConfig } from '../../functions/shared/config';
import { DatabaseName } from '../../tasks/data/manifest';

/**
 * The `data` section of a stage: the databases Switchback backs up and restores, and how the data
 * task (ECS Fargate, `lib/data-task.ts`) reaches them. Absent: no data task, no backup or restore
 * procedures. Names and ids only: the PostgreSQL password stays in SSM or Secrets Manager.
 */

const SsmParameterName = /^(\/[A-Za-z0-9_.-]+)+$/;
/** A complete Secrets Manager ARN (with the 6-character suffix), so the grant names exactly it. */
const SecretsManagerArn =
  /^arn:aws[a-z-]*:secretsmanager:[a-z]{2}(-[a-z]+)+-\d:\d{12}:secret:[A-Za-z0-9/_+=.@-]+-[A-Za-z0-9]{6}$/;
const KmsKeyArn = /^arn:aws[a-z-]*:kms:[a-z]{2}(-[a-z]+)+-\d:\d{12}:key\/[0-9a-f-]{36}$/;
/** An absolute POSIX path without `..`, `.` or empty segments. */
const AbsolutePath = /^(\/[A-Za-z0-9_.-]+)+$/;
/** A relative POSIX path without `..`, `.` or empty segments. */
const RelativePath = /^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/;
const noDotSegments = (p: string) => p.split('/').every((s) => s !== '..' && s !== '.');

/** Fargate CPU units and the memory (MiB) each allows (Linux; the same for ARM64). */
export const FARGATE_SIZES: Readonly<Record<number, readonly [min: number, max: number, step: number]>> = {
  256: [512, 2048, 512],
  512: [1024, 4096, 1024],
  1024: [2048, 8192, 1024],
  2048: [4096, 16384, 1024],
  4096: [8192, 30720, 1024],
  8192: [16384, 61440, 4096],
  16384: [32768, 122880, 8192],
};

/** Default backup schedule: every day at 03:00 UTC. */
export const DEFAULT_BACKUP_SCHEDULE = 'cron(0 3 * * ? *)';

/** Subnets and security groups, shaped like the stage's top-level `network`. */
export const DataNetworkConfig = z.strictObject({
  vpcId: z
    .string()
    .regex(/^vpc-[0-9a-f]+$/, 'a VPC id such as vpc-0abc')
    .describe('The VPC of the subnets.'),
  availabilityZones: z.array(z.string().min(1)).min(1).describe('The availability zones of the subnets.'),
  subnetIds: z
    .array(z.string().regex(/^subnet-[0-9a-f]+$/, 'a subnet id such as subnet-0abc'))
    .min(1)
    .describe('Subnets the data task runs in; they must reach the databases, ECR, S3 and CloudWatch Logs.'),
  securityGroupIds: z
    .array(z.string().regex(/^sg-[0-9a-f]+$/, 'a security group id such as sg-0abc'))
    .min(1)
    .describe('Security groups of the data task; the databases (and EFS) must accept them.'),
  assignPublicIp: z
    .boolean()
    .default(false)
    .describe('Give the task a public IP (only for public subnets without a NAT).'),
});

export const PostgresDataConfig = z.strictObject({
  host: z
    .string()
    .regex(/^[A-Za-z0-9.:-]{1,253}$/, 'a host name or IP address')
    .describe('Host name or address of the PostgreSQL server (PGHOST).'),
  /** @default 5432 */
  port: z.number().int().min(1).max(65535).default(5432).describe('Port of the PostgreSQL server (PGPORT).'),
  user: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_$-]{0,62}$/, 'a PostgreSQL role name')
    .describe('Role the data task connects as (PGUSER); it must be able to create and rename databases.'),
  passwordSecret: z
    .string()
    .refine((s) => SsmParameterName.test(s) || SecretsManagerArn.test(s), {
      message: 'an SSM parameter name such as /memory/prod/pg-password, or a complete Secrets Manager ARN',
    })
    .describe(
      'Where PGPASSWORD comes from: an SSM SecureString parameter name (`/memory/prod/pg-password`) or a complete Secrets Manager secret ARN. ECS injects it; it never appears in the template.',
    ),
  passwordSecretField: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,64}$/)
    .optional()
    .describe(
      'JSON key holding the password, when `passwordSecret` is a Secrets Manager JSON secret (RDS style).',
    ),
  passwordKmsKeyArn: z
    .string()
    .regex(KmsKeyArn, 'a KMS key ARN')
    .optional()
    .describe('Customer managed KMS key of the SecureString or secret (the AWS managed key needs no grant).'),
  sslMode: z
    .enum(['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'])
    .optional()
    .describe("PGSSLMODE for the data task. Default: libpq's default (`prefer`)."),
  databases: z.array(DatabaseName).min(1).describe('Databases backed up and restorable by name.'),
});

export const SqliteDataConfig = z.strictObject({
  efs: z
    .strictObject({
      fileSystemId: z
        .string()
        .regex(/^fs-[0-9a-f]+$/, 'an EFS file system id such as fs-0abc')
        .describe('The EFS file system.'),
      accessPointId: z
        .string()
        .regex(/^fsap-[0-9a-f]+$/, 'an EFS access point id such as fsap-0abc')
        .describe('The access point the app uses (the task mounts it with IAM authorization).'),
      mountPath: z
        .string()
        .regex(AbsolutePath, 'an absolute path such as /mnt/sqlite')
        .refine(noDotSegments, 'no "." or ".." segments')
        .default('/mnt/sqlite')
        .describe('Where the data task mounts the access point.'),
    })
    .describe("The EFS access point the app's SQLite files live on; the data task mounts the same one."),
  databases: z
    .record(
      DatabaseName,
      z
        .string()
        .regex(RelativePath, 'a path relative to the access point root, such as memory.db')
        .refine(noDotSegments, 'no "." or ".." segments'),
    )
    .refine((r) => Object.keys(r).length > 0, 'at least one database')
    .describe("Databases by name: the file's path relative to the access point's root (`memory.db`)."),
});

export const DataConfig = z
  .strictObject({
    postgres: PostgresDataConfig.optional().describe(
      'The PostgreSQL server and its databases. Absent: no PostgreSQL backups.',
    ),
    sqlite: SqliteDataConfig.optional().describe('The SQLite files on EFS. Absent: no SQLite backups.'),
    network: DataNetworkConfig.optional().describe(
      "Where the data task runs. Default: the stage's top-level `network`.",
    ),
    writers: z
      .array(z.enum(['api', 'sidecar']))
      .min(1)
      .refine((w) => new Set(w).size === w.length, 'each service once')
      .default(['api'])
      .describe('Services stopped (scaled to 0) while a restore runs.'),
    backupRetentionDays: z
      .number()
      .int()
      .min(1)
      .max(3650)
      .default(30)
      .describe('Days a backup is kept, except the newest verified one, which is never expired.'),
    taskResultDays: z
      .number()
      .int()
      .min(1)
      .max(365)
      .default(7)
      .describe('Days data task results (`task-results/<env>/`) are kept.'),
    schedule: z
      .union([
        z.literal('disabled'),
        z.string().regex(/^(cron|rate)\(.+\)$/, 'cron(...), rate(...) or "disabled"'),
      ])
      .default(DEFAULT_BACKUP_SCHEDULE)
      .describe(
        'When scheduled backups of every configured database run (EventBridge Scheduler, UTC), or `disabled`.',
      ),
    task: z
      .strictObject({
        cpu: z
          .number()
          .refine((c) => c in FARGATE_SIZES, `one of ${Object.keys(FARGATE_SIZES).join(', ')}`)
          .default(1024)
          .describe(`CPU units of the data task: one of ${Object.keys(FARGATE_SIZES).join(', ')}.`),
        memoryMiB: z
          .number()
          .int()
          .default(2048)
          .describe('Memory of the data task in MiB, within what Fargate allows for its CPU.'),
      })
      .superRefine((t, ctx) => {
        const size = FARGATE_SIZES[t.cpu];
        if (!size) return;
        const [min, max, step] = size;
        if (t.memoryMiB < min || t.memoryMiB > max || (t.memoryMiB - min) % step !== 0) {
          ctx.addIssue({
            code: 'custom',
            path: ['memoryMiB'],
            message: `with cpu ${t.cpu}: ${min}-${max} MiB in steps of ${step}`,
          });
        }
      })
      .prefault({})
      .describe('Size of the data task.'),
  })
  .superRefine((d, ctx) => {
    if (!d.postgres && !d.sqlite) {
      ctx.addIssue({ code: 'custom', message: 'configure postgres, sqlite or both' });
    }
    if (d.postgres?.passwordSecretField && !d.postgres.passwordSecret.startsWith('arn:')) {
      ctx.addIssue({
        code: 'custom',
        path: ['postgres', 'passwordSecretField'],
        message: 'only for a Secrets Manager secret (passwordSecret is an SSM parameter)',
      });
    }
  });
export type DataConfig = z.infer<typeof DataConfig>;
export type DataNetworkConfig = z.infer<typeof DataNetworkConfig>;

/** The data task's network: `data.network`, else the stage's top-level `network` (same shape). */
export function dataNetwork(stage: {
  readonly data?: DataConfig;
  readonly network?: Omit<DataNetworkConfig, 'assignPublicIp'>;
}): DataNetworkConfig | undefined {
  if (stage.data?.network) return stage.data.network;
  return stage.network ? { ...stage.network, assignPublicIp: false } : undefined;
}

/** Absolute path of each SQLite database as the data task sees it (under the mount path). */
export function sqlitePaths(sqlite: z.infer<typeof SqliteDataConfig>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(sqlite.databases).map(([name, rel]) => [name, posix.join(sqlite.efs.mountPath, rel)]),
  );
}

/** The runtime shape of `data` (functions/shared/config.ts) that the steps and the data task read. */
export function toRuntimeData(
  data: DataConfig,
  network: DataNetworkConfig,
): NonNullable<RuntimeConfig['data']> {
  return {
    postgres: { databases: [...(data.postgres?.databases ?? [])] },
    sqlite: { databases: data.sqlite ? sqlitePaths(data.sqlite) : {} },
    network: {
      subnets: [...network.subnetIds],
      securityGroups: [...network.securityGroupIds],
      assignPublicIp: network.assignPublicIp ? 'ENABLED' : 'DISABLED',
    },
    writers: [...data.writers],
  };
}

/** Key prefixes of the data procedures in the backup bucket (tasks/data/manifest.ts, task.ts). */
export function dataPrefixes(environment: string): { backups: string; taskResults: string } {
  return { backups: `backups/${environment}`, taskResults: `task-results/${environment}` };
}

/** `{ data }` for `toRuntimeConfig` when the stage configures `data`, else `{}`. */
export function runtimeDataOf(stage: {
  readonly name: string;
  readonly data?: DataConfig;
  readonly network?: Omit<DataNetworkConfig, 'assignPublicIp'>;
}): Pick<RuntimeConfig, 'data'> {
  if (!stage.data) return {};
  const network = dataNetwork(stage);
  if (!network) throw new Error(`Stage ${stage.name}: data needs data.network or network`);
  return { data: toRuntimeData(stage.data, network) };
}

/** Stage-level rule: the data task needs somewhere to run. */
export function checkDataNetwork(
  stage: { readonly data?: DataConfig; readonly network?: unknown },
  ctx: z.RefinementCtx,
): void {
  if (stage.data && !stage.data.network && !stage.network) {
    ctx.addIssue({
      code: 'custom',
      path: ['data', 'network'],
      message: 'required when the stage has no top-level network (the data task runs in a VPC)',
    });
  }
}
