import { CfnOutput, Duration, Stack, type StackProps } from 'aws-cdk-lib';
import { Alarm } from 'aws-cdk-lib/aws-cloudwatch';
import { StringParameter } from 'aws-cdk-lib/aws-ssm';
import type { Construct } from 'constructs';
import { STEP_NAMES, type StepName } from '../functions/index';
import { FLAG_NAMES, type FlagName, initialFlagValues } from '../functions/shared/flags';
import { METRICS_NAMESPACE } from '../functions/shared/metrics';
import { LOCK_TAKERS } from '../procedures/index';
import { stateMachinePlaceholder } from '../procedures/integrations';
import { BackupBucket } from './backup-bucket';
import { ChangeJournal } from './change-journal';
import { alarmCatalog, resolveAlarms } from './config/alarm-readiness';
import { dataNetwork } from './config/data-schema';
import { gateMetricsSpec } from './config/feature-rollout-schema';
import { protectedServices, watchedParameters } from './config/journal-schema';
import { changeRecordPrefix, parameterPrefix, type StageConfig, toRuntimeConfig } from './config/stage';
import { OperationsDashboard } from './dashboard';
import { type DataProcedureName, DataProtection } from './data-protection';
import { DATABASE_PROCEDURES, DatabaseCutover, type DatabaseProcedureName } from './database-cutover';
import { Drills } from './drills';
import { ExecutionLock } from './execution-lock';
import { FeatureRollout } from './feature-rollout';
import { Flags } from './flags';
import { HealthProbe } from './health-probe';
import { HouseFunction } from './house-function';
import { LkgRollbacks } from './lkg-rollbacks';
import { Notifications } from './notifications';
import { OperatorPolicy } from './operator-policy';
import { Procedure, type ProcedureContext } from './procedure';
import { ProviderProcedures } from './provider-procedures';
import { RollbackAlarms } from './rollback-alarms';
import { RollbackRouter } from './rollback-router';

/** Per-step sizing and placement. Timeouts stay below the Tasks' `TimeoutSeconds` (30 s / 60 s). */
export const STEP_SETTINGS: Readonly<
  Record<StepName, { timeout: Duration; memorySize: number; inVpc: boolean }>
> = {
  'validate-input': { timeout: Duration.seconds(10), memorySize: 256, inVpc: false },
  'check-health': { timeout: Duration.seconds(50), memorySize: 256, inVpc: true },
  'smoke-test': { timeout: Duration.seconds(50), memorySize: 256, inVpc: true },
  'change-record': { timeout: Duration.seconds(30), memorySize: 256, inVpc: false },
  'set-flags': { timeout: Duration.seconds(30), memorySize: 256, inVpc: false },
  'restart-service': { timeout: Duration.seconds(30), memorySize: 256, inVpc: false },
  'check-stable': { timeout: Duration.seconds(30), memorySize: 256, inVpc: false },
  'route-alarm': { timeout: Duration.seconds(10), memorySize: 256, inVpc: false },
  'plan-response': { timeout: Duration.seconds(30), memorySize: 256, inVpc: false },
  'incident-report': { timeout: Duration.seconds(30), memorySize: 256, inVpc: false },
  // Probes for a minute (rounds x interval) plus one probe timeout; see lib/health-probe.ts.
  'health-probe': { timeout: Duration.seconds(75), memorySize: 256, inVpc: true },
  'data-result': { timeout: Duration.seconds(20), memorySize: 256, inVpc: false },
  'backup-catalog': { timeout: Duration.seconds(50), memorySize: 512, inVpc: false },
  'scale-service': { timeout: Duration.seconds(30), memorySize: 256, inVpc: false },
  'validate-data-input': { timeout: Duration.seconds(10), memorySize: 256, inVpc: false },
  // Feature rollout (seed 003); see lib/feature-rollout.ts.
  'feature-input': { timeout: Duration.seconds(10), memorySize: 256, inVpc: false },
  rollout: { timeout: Duration.seconds(30), memorySize: 256, inVpc: false },
  // Polls the app for up to a minute (the disable's budget), then exercises its memory endpoints.
  'feature-check': { timeout: Duration.seconds(80), memorySize: 256, inVpc: true },
  'evaluate-gate': { timeout: Duration.seconds(30), memorySize: 256, inVpc: false },
  'request-approval': { timeout: Duration.seconds(20), memorySize: 256, inVpc: false },
  'disable-feature': { timeout: Duration.seconds(20), memorySize: 256, inVpc: false },
  // Database cutover (seed 002); they reach Qdrant and PostgreSQL, so they run in the stage's network.
  'database-input': { timeout: Duration.seconds(10), memorySize: 256, inVpc: false },
  // Works to database.migration.timeBudgetSeconds (default 600 s), well inside this, and returns its cursor.
  'migrate-vectors': { timeout: Duration.seconds(900), memorySize: 1024, inVpc: true },
  'database-check': { timeout: Duration.seconds(300), memorySize: 512, inVpc: true },
  'database-report': { timeout: Duration.seconds(30), memorySize: 256, inVpc: false },
  // Reads the maintenance flag and reads what the API's /health serves.
  'observe-hold': { timeout: Duration.seconds(50), memorySize: 256, inVpc: true },
  // Formats a notice into the notification's subject and body; reads nothing.
  'compose-notice': { timeout: Duration.seconds(10), memorySize: 256, inVpc: false },
  // The change journal (EventBridge target): a few ECS or SSM reads and one conditional put.
  journal: { timeout: Duration.seconds(30), memorySize: 256, inVpc: false },
  // Code and config rollback: the journal, the alarms' history, ECS and the watched parameters.
  'rollback-input': { timeout: Duration.seconds(10), memorySize: 256, inVpc: false },
  'rollback-plan': { timeout: Duration.seconds(30), memorySize: 256, inVpc: false },
  // Stopping a deployment polls ECS for the deployment that carries the rollback (up to ~10 s a service).
  'rollback-apply': { timeout: Duration.seconds(50), memorySize: 256, inVpc: false },
  // Rollback drills: SSM, CloudWatch SetAlarmState and alarm history, S3 reports.
  'drill-input': { timeout: Duration.seconds(10), memorySize: 256, inVpc: false },
  drill: { timeout: Duration.seconds(30), memorySize: 256, inVpc: false },
};

/**
 * Flags the automation may write. `automation/paused` is the operators' kill switch: the
 * procedures read it but can never set it, so no run can unpause automation.
 */
export const AUTOMATION_WRITABLE_FLAGS: readonly FlagName[] = FLAG_NAMES.filter(
  (n) => n !== 'automation/paused',
);

/** The procedures the stack deploys, by ASL file name. */
export const PROCEDURES = [
  'provider-rollback',
  'provider-cutover',
  'lock-janitor',
  'rollback-router',
  'feature-disable',
  'feature-rollout',
  'code-rollback',
  'config-rollback',
  'drill',
] as const;
export type ProcedureName = (typeof PROCEDURES)[number];

/** SSM parameter holding a procedure's state machine ARN, read by the `switchback` CLI. */
export function procedureParameterName(
  stage: Pick<StageConfig, 'name'>,
  procedure: ProcedureName | DataProcedureName | DatabaseProcedureName,
): string {
  return `/switchback/${stage.name}/procedures/${procedure}`;
}

/** SSM parameter holding the lock table's name, read by `switchback status` and `switchback unlock`. */
export function lockTableParameterName(stage: Pick<StageConfig, 'name'>): string {
  return `/switchback/${stage.name}/lock-table`;
}

/** SSM parameter holding the change journal table's name, read by `switchback history`. */
export function journalTableParameterName(stage: Pick<StageConfig, 'name'>): string {
  return `/switchback/${stage.name}/journal-table`;
}

export interface SwitchbackStackProps extends StackProps {
  readonly stage: StageConfig;
}

/**
 * One environment's Switchback: flags, backup bucket, lock and janitor, notification topic, the
 * step functions, and the provider cutover and rollback procedures. The stack only composes; each
 * concern and its permissions live in its construct.
 */
export class SwitchbackStack extends Stack {
  public readonly flags: Flags;
  public readonly backups: BackupBucket;
  public readonly lock: ExecutionLock;
  public readonly notifications: Notifications;
  public readonly functions: Readonly<Record<StepName, HouseFunction>>;
  public readonly procedures: Readonly<Record<ProcedureName, Procedure>>;
  /** Backups and restores (data task, procedures, schedule); only when the stage configures `data`. */
  public readonly data?: DataProtection;
  /** The runbooks' thresholds as alarms, and the rule that starts the rollback router. */
  public readonly alarms: RollbackAlarms;
  public readonly healthProbe: HealthProbe;
  /** Seed 002's database cutover and rollback; only when the stage configures `database`. */
  public readonly database?: DatabaseCutover;
  /** The stage's CloudWatch dashboard: alarms, probe, recovery phases, executions. */
  public readonly dashboard: OperationsDashboard;
  /** Every change to the protected stack, whoever made it: the table and the rules that feed it. */
  public readonly journal: ChangeJournal;
  /** The managed policy the operators need for the `switchback` CLI (output as OperatorPolicyArn). */
  public readonly operatorPolicy: OperatorPolicy;

  constructor(scope: Construct, id: string, props: SwitchbackStackProps) {
    super(scope, id, props);
    const { stage } = props;
    const logRetention = stage.logRetentionDays;

    this.flags = new Flags(this, 'Flags', {
      prefix: parameterPrefix(stage),
      initialValues: initialFlagValues({
        sidecarBaseUrl: stage.endpoints.sidecarBaseUrl,
        databaseConnection: stage.database?.source.connection,
      }),
      logRetention,
    });
    this.backups = new BackupBucket(this, 'Backups', {
      noncurrentVersionDays: stage.backups.noncurrentVersionDays,
      abortIncompleteUploadDays: stage.backups.abortIncompleteUploadDays,
      backupRetentionDays: stage.data?.backupRetentionDays,
      taskResultDays: stage.data?.taskResultDays,
    });
    this.lock = new ExecutionLock(this, 'Lock');
    this.notifications = new Notifications(this, 'Notifications', {
      environment: stage.name,
      emails: stage.notifications.emails,
    });
    const topic = this.notifications.topic;

    this.journal = new ChangeJournal(this, 'Journal', {
      environment: stage.name,
      cluster: stage.services.cluster,
      services: protectedServices(stage),
      watched: watchedParameters(stage),
    });
    const runtimeConfig = toRuntimeConfig(
      stage,
      this.backups.bucket.bucketName,
      this.journal.table.tableName,
    );
    const fns = {} as Record<StepName, HouseFunction>;
    for (const step of STEP_NAMES) {
      const settings = STEP_SETTINGS[step];
      fns[step] = new HouseFunction(this, `Step-${step}`, {
        step,
        runtimeConfig,
        logRetention,
        timeout: settings.timeout,
        memorySize: settings.memorySize,
        ...(settings.inVpc && stage.network ? { network: stage.network } : {}),
      });
    }
    this.functions = fns;

    // Each step gets exactly what its code calls (functions/<step>/ and functions/shared/adapters/).
    if (stage.secrets.sidecarApiKeyParameter) {
      fns['smoke-test'].bindSecretParameter(stage.secrets.sidecarApiKeyParameter);
    }
    fns['change-record']
      .bindChangeRecords(this.backups, changeRecordPrefix(stage))
      .bindFlags(this.flags, FLAG_NAMES, 'read')
      .bindService('api', 'describe');
    fns['set-flags']
      .bindFlags(this.flags, FLAG_NAMES, 'read')
      .bindFlags(this.flags, AUTOMATION_WRITABLE_FLAGS, 'read-write');
    fns['restart-service'].bindService('api', 'update');
    fns['observe-hold'].bindFlags(this.flags, ['maintenance-mode'], 'read');
    fns['check-stable'].bindService('api', 'describe');
    this.journal.connect(fns.journal);
    // Switchback's own changes and restore points are journal entries too.
    this.journal.grantPut(fns['change-record']);
    this.journal.grantPut(fns['backup-catalog']);
    this.journal.grantPut(fns.rollout);

    const context: ProcedureContext = {
      environment: stage.name,
      lockTable: this.lock.table,
      topic,
      steps: fns,
      logRetention,
    };

    // Backups and restores (issue #3): the data task, backup / restore procedures and the schedule.
    const network = dataNetwork(stage);
    if (stage.data && network) {
      this.data = new DataProtection(this, 'Data', {
        context,
        data: stage.data,
        network,
        clusterName: stage.services.cluster,
        runtimeConfig,
        backups: this.backups,
      });
    }
    const provider = new ProviderProcedures(this, 'Provider', { context, data: this.data });

    // Seed 002's database cutover (issue #5): deployed with the stage's `database` section.
    if (stage.database) {
      this.database = new DatabaseCutover(this, 'DatabaseCutover', {
        context,
        database: stage.database,
        flags: this.flags,
        backups: this.backups,
        changeRecordPrefix: changeRecordPrefix(stage),
        data: this.data,
      });
    }

    // Alarm-started rollbacks: thresholds -> EventBridge -> rollback router -> the matrix's rollback.
    // resolveAlarms is the readiness check: an alarm that is not ready fails the synth, named.
    const resolvedAlarms = resolveAlarms(stage, {
      deployedProcedures: [...PROCEDURES, ...(this.database ? DATABASE_PROCEDURES : [])],
    });
    fns['health-probe'].bindMetrics(METRICS_NAMESPACE);
    // Phased feature rollout and emergency disable (seed 003); the gate treats the P0 alarms as fatal.
    const features = new FeatureRollout(this, 'FeatureRollout', {
      context,
      flags: this.flags,
      backups: this.backups,
      gateMetrics: gateMetricsSpec(
        stage,
        resolvedAlarms.filter((a) => a.decision.priority === 'P0').map((a) => a.name),
      ),
    });

    const catalog = alarmCatalog(stage, resolvedAlarms);
    // Any change rolled back: code and config, to the last known good from the journal.
    const lkg = new LkgRollbacks(this, 'LkgRollbacks', {
      context,
      journal: this.journal,
      alarmCatalog: catalog,
      services: stage.services,
    });
    // Rollback drills through the real detection path (a schedule only for the kinds the stage allows).
    const drills = new Drills(this, 'Drills', {
      context,
      flags: this.flags,
      backups: this.backups,
      alarmCatalog: catalog,
      drills: stage.drills,
      journal: this.journal,
    });
    const router = new RollbackRouter(this, 'RollbackRouter', {
      context,
      flags: this.flags,
      backups: this.backups,
      changeRecordPrefix: changeRecordPrefix(stage),
      alarmCatalog: catalog,
      provider,
      lkg,
      features,
      journal: this.journal,
      database: this.database,
    });
    this.alarms = new RollbackAlarms(this, 'Alarms', {
      stage,
      alarms: resolvedAlarms,
      router: router.procedure.stateMachine,
      topic,
    });
    this.healthProbe = new HealthProbe(this, 'HealthProbe', {
      environment: stage.name,
      probe: fns['health-probe'],
      schedule: stage.monitoring.probe,
      probeTimeout: Duration.millis(stage.timing.httpTimeoutMs),
      topic,
      namespace: METRICS_NAMESPACE,
    });

    // The janitor watches every deployed procedure that takes the lock (one list: LOCK_TAKERS).
    const deployed: Procedure[] = [
      provider.cutover,
      provider.rollback,
      router.procedure,
      features.rollout,
      features.disable,
      lkg.code,
      lkg.config,
      ...Object.values(this.data?.procedures ?? {}),
      ...(this.database ? [this.database.cutover, this.database.rollback] : []),
    ];
    const janitor = this.lock.addJanitor({
      context,
      guarded: deployed
        .filter((p) => (LOCK_TAKERS as readonly string[]).includes(p.name))
        .map((p) => p.stateMachine),
    });
    this.procedures = {
      'provider-rollback': provider.rollback,
      'provider-cutover': provider.cutover,
      'lock-janitor': janitor,
      'rollback-router': router.procedure,
      'feature-disable': features.disable,
      'feature-rollout': features.rollout,
      'code-rollback': lkg.code,
      'config-rollback': lkg.config,
      drill: drills.procedure,
    };

    const published: [ProcedureName | DataProcedureName | DatabaseProcedureName, Procedure][] = [
      ...PROCEDURES.map((name): [ProcedureName, Procedure] => [name, this.procedures[name]]),
      ...Object.entries(this.data?.procedures ?? {}).map(([name, p]): [DataProcedureName, Procedure] => [
        name as DataProcedureName,
        p,
      ]),
      ...(this.database
        ? ([
            ['database-cutover', this.database.cutover],
            ['database-rollback', this.database.rollback],
          ] as [DatabaseProcedureName, Procedure][])
        : []),
    ];
    for (const [name, procedure] of published) {
      new StringParameter(this, `ProcedureArn-${name}`, {
        parameterName: procedureParameterName(stage, name),
        stringValue: procedure.stateMachine.stateMachineArn,
        description: `Switchback ${stage.name}: ARN of the ${name} state machine (read by the switchback CLI)`,
      });
      new CfnOutput(this, stateMachinePlaceholder(name), {
        value: procedure.stateMachine.stateMachineArn,
      });
    }
    new StringParameter(this, 'LockTableParameter', {
      parameterName: lockTableParameterName(stage),
      stringValue: this.lock.table.tableName,
      description: `Switchback ${stage.name}: name of the execution lock table (read by the switchback CLI)`,
    });
    new StringParameter(this, 'BackupBucketParameter', {
      parameterName: `/switchback/${stage.name}/backup-bucket`,
      stringValue: this.backups.bucket.bucketName,
      description: `Switchback ${stage.name}: backup bucket (read by \`switchback backups\`)`,
    });
    this.dashboard = new OperationsDashboard(this, 'Dashboard', {
      environment: stage.name,
      namespace: METRICS_NAMESPACE,
      procedures: [...deployed, janitor, drills.procedure],
      // Every alarm of the stack, whichever construct made it (created last, so none is missed).
      alarms: this.node.findAll().filter((c): c is Alarm => c instanceof Alarm),
    });
    new CfnOutput(this, 'NotificationTopicArn', { value: topic.topicArn });
    new CfnOutput(this, 'BackupBucketName', { value: this.backups.bucket.bucketName });
    new CfnOutput(this, 'LockTableName', { value: this.lock.table.tableName });
    new StringParameter(this, 'JournalTableParameter', {
      parameterName: journalTableParameterName(stage),
      stringValue: this.journal.table.tableName,
      description: `Switchback ${stage.name}: name of the change journal table (read by \`switchback history\`)`,
    });
    new CfnOutput(this, 'JournalTableName', { value: this.journal.table.tableName });
    new CfnOutput(this, 'FlagPrefix', { value: parameterPrefix(stage) });
    this.operatorPolicy = new OperatorPolicy(this, 'Operator', {
      environment: stage.name,
      cliPrefix: `/switchback/${stage.name}`,
      stateMachines: published.map(([, p]) => p.stateMachine),
      approvals: published
        .filter(([name]) => Procedure.definition(name).includes('.waitForTaskToken'))
        .map(([, p]) => p.stateMachine),
      lockTable: this.lock.table,
      journalTable: this.journal.table,
      backups: this.backups,
    });
    new CfnOutput(this, 'OperatorPolicyArn', {
      value: this.operatorPolicy.policy.managedPolicyArn,
      description:
        'Attach to the operators (role or group): what the switchback CLI needs, on this stack only',
    });
  }
}
