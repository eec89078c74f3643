import { Duration, TimeZone } from 'aws-cdk-lib';
import type { Role } from 'aws-cdk-lib/aws-iam';
import { Schedule, ScheduleExpression, ScheduleTargetInput, TimeWindow } from 'aws-cdk-lib/aws-scheduler';
import { StepFunctionsStartExecution } from 'aws-cdk-lib/aws-scheduler-targets';
import type { Queue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { RuntimeConfig } from '../functions/shared/config';
import { LOCK_TAKERS } from '../procedures/index';
import type { BackupBucket } from './backup-bucket';
import type { DataConfig, DataNetworkConfig } from './config/data-schema';
import { DataTask } from './data-task';
import { Procedure, type ProcedureContext } from './procedure';
import { scheduleStarter } from './schedule-starter';

/** The data procedures, by ASL file name: deployed only when the stage configures `data`. */
export const DATA_PROCEDURES = ['backup', 'restore-postgres', 'restore-sqlite'] as const;
export type DataProcedureName = (typeof DATA_PROCEDURES)[number];

/** The data procedures that take the environment lock (the janitor must guard them). */
export const LOCKING_DATA_PROCEDURES: readonly DataProcedureName[] = DATA_PROCEDURES.filter((p) =>
  (LOCK_TAKERS as readonly string[]).includes(p),
);

export interface DataProtectionProps {
  /** The environment's steps, lock, topic and log retention. */
  readonly context: ProcedureContext;
  /** The stage's `data` section. */
  readonly data: DataConfig;
  /** Where the data task runs. */
  readonly network: DataNetworkConfig;
  /** Name of the ECS cluster of the memory stack (the data task runs there too). */
  readonly clusterName: string;
  /** The runtime configuration the steps and the data task read (must carry `data`). */
  readonly runtimeConfig: RuntimeConfig;
  readonly backups: BackupBucket;
}

/**
 * Backups and restores on AWS: the data task (Fargate), the `backup`, `restore-postgres` and
 * `restore-sqlite` procedures, the data steps' grants, and the backup schedule (EventBridge
 * Scheduler, one schedule per configured database, whose role may only start `backup`).
 */
export class DataProtection extends Construct {
  public readonly task: DataTask;
  public readonly procedures: Readonly<Record<DataProcedureName, Procedure>>;
  /** One per configured database; empty when the schedule is `disabled`. */
  public readonly schedules: readonly Schedule[];
  /** The role the schedules start `backup` with; undefined when the schedule is `disabled`. */
  public readonly scheduleRole?: Role;
  /** Where EventBridge Scheduler puts a scheduled backup it could not start (an alarm notifies). */
  public readonly scheduleDeadLetters?: Queue;

  constructor(scope: Construct, id: string, props: DataProtectionProps) {
    super(scope, id);
    const { data, backups } = props;
    const fns = props.context.steps;

    this.task = new DataTask(this, 'Task', {
      clusterName: props.clusterName,
      data,
      network: props.network,
      runtimeConfig: props.runtimeConfig,
      backups,
      logRetention: props.context.logRetention,
    });

    // Each data step gets exactly what its code calls (functions/<step>/, tasks/data/manifest.ts).
    fns['data-result'].bindTaskResults(backups);
    fns['backup-catalog'].bindBackupCatalog(backups);
    for (const writer of data.writers) {
      fns['scale-service'].bindService(writer, 'describe').bindService(writer, 'update');
      fns['check-stable'].bindService(writer, 'describe');
    }

    const make = (name: DataProcedureName, constructId: string) =>
      new Procedure(this, constructId, {
        name,
        context: props.context,
        bindings: {
          DataTaskClusterArn: { ecsCluster: this.task },
          DataTaskDefinitionArn: { ecsTask: this.task },
        },
      });
    const backup = make('backup', 'Backup');
    this.procedures = {
      backup,
      'restore-postgres': make('restore-postgres', 'RestorePostgres'),
      'restore-sqlite': make('restore-sqlite', 'RestoreSqlite'),
    };

    const targets = [
      ...(data.postgres?.databases ?? []).map((database) => ({ store: 'postgres' as const, database })),
      ...Object.keys(data.sqlite?.databases ?? {}).map((database) => ({
        store: 'sqlite' as const,
        database,
      })),
    ];
    if (data.schedule === 'disabled') {
      this.schedules = [];
      return;
    }
    // A start that failed every retry lands in the dead-letter queue instead of vanishing.
    const { role, deadLetters } = scheduleStarter(this, {
      environment: props.context.environment,
      what: 'scheduled backups',
      schedules: 'backup',
      alarmId: 'MissedScheduledBackup',
      alarmDescription: `Switchback ${props.context.environment}: a scheduled backup could not be started (see the dead-letter queue for which one and why).`,
      topic: props.context.topic,
    });
    this.scheduleRole = role;
    this.scheduleDeadLetters = deadLetters;
    const expression = ScheduleExpression.expression(data.schedule, TimeZone.ETC_UTC);
    this.schedules = targets.map(
      ({ store, database }) =>
        new Schedule(this, `Schedule-${store}-${database}`, {
          description: `Switchback ${props.context.environment}: scheduled backup of ${store} ${database}`,
          schedule: expression,
          target: new StepFunctionsStartExecution(backup.stateMachine, {
            role,
            input: ScheduleTargetInput.fromObject({
              store,
              database,
              reason: 'scheduled backup',
              purpose: 'scheduled',
            }),
            // A backup that could not start within the hour waits for the next run.
            maxEventAge: Duration.hours(1),
            retryAttempts: 3,
            deadLetterQueue: deadLetters,
          }),
          // The databases' backups start within a quarter of an hour of the schedule, not all at once.
          timeWindow: TimeWindow.flexible(Duration.minutes(15)),
        }),
    );
  }
}
