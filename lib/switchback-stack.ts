import { CfnOutput, Duration, Stack, type StackProps } from 'aws-cdk-lib';
import { StringParameter } from 'aws-cdk-lib/aws-ssm';
import type { Construct } from 'constructs';
import { functionPlaceholder, STEP_NAMES, type StepName } from '../functions/index';
import { FLAG_NAMES, type FlagName } from '../functions/shared/flags';
import { MEMORY_CONTEXT_OFF, serializeMemoryContextFlag } from '../functions/shared/memory-context';
import { BackupBucket } from './backup-bucket';
import { changeRecordPrefix, parameterPrefix, type StageConfig, toRuntimeConfig } from './config';
import { ExecutionLock } from './execution-lock';
import { Flags } from './flags';
import { HouseFunction } from './house-function';
import { Notifications } from './notifications';
import { Procedure, type ProcedureBinding } from './procedure';

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
};

/**
 * Flags the automation may write. `automation/paused` is the operators' kill switch: the
 * procedures read it but can never set it, so no run can unpause automation.
 */
export const AUTOMATION_WRITABLE_FLAGS: readonly FlagName[] = FLAG_NAMES.filter(
  (n) => n !== 'automation/paused',
);

/** The procedures the stack deploys, by ASL file name. */
export const PROCEDURES = ['provider-rollback', 'provider-cutover', 'lock-janitor'] as const;
export type ProcedureName = (typeof PROCEDURES)[number];

/** SSM parameter holding a procedure's state machine ARN, read by the `switchback` CLI. */
export function procedureParameterName(stage: Pick<StageConfig, 'name'>, procedure: ProcedureName): string {
  return `/switchback/${stage.name}/procedures/${procedure}`;
}

/** SSM parameter holding the lock table's name, read by `switchback status` and `switchback unlock`. */
export function lockTableParameterName(stage: Pick<StageConfig, 'name'>): string {
  return `/switchback/${stage.name}/lock-table`;
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

  constructor(scope: Construct, id: string, props: SwitchbackStackProps) {
    super(scope, id, props);
    const { stage } = props;
    const logRetention = stage.logRetentionDays;

    this.flags = new Flags(this, 'Flags', {
      prefix: parameterPrefix(stage),
      initialValues: {
        'memory/provider': 'native',
        'memory/http-base': stage.endpoints.sidecarBaseUrl,
        'maintenance-mode': 'off',
        'automation/paused': 'false',
        'features/memory-context': serializeMemoryContextFlag(MEMORY_CONTEXT_OFF),
      },
    });
    this.backups = new BackupBucket(this, 'Backups', {
      noncurrentVersionDays: stage.backups.noncurrentVersionDays,
      abortIncompleteUploadDays: stage.backups.abortIncompleteUploadDays,
    });
    this.lock = new ExecutionLock(this, 'Lock');
    this.notifications = new Notifications(this, 'Notifications', {
      environment: stage.name,
      emails: stage.notifications.emails,
    });
    const topic = this.notifications.topic;

    const runtimeConfig = toRuntimeConfig(stage, this.backups.bucket.bucketName);
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
    fns['check-stable'].bindService('api', 'describe');

    const common: Record<string, ProcedureBinding> = {
      Environment: { value: stage.name },
      LockTableName: { table: this.lock.table },
      NotificationTopicArn: { topic },
    };
    const stepBindings = (name: ProcedureName): Record<string, ProcedureBinding> => {
      const used = new Set(Procedure.placeholders(Procedure.definition(name)));
      return Object.fromEntries(
        STEP_NAMES.filter((s) => used.has(functionPlaceholder(s))).map((s) => [
          functionPlaceholder(s),
          { function: fns[s] },
        ]),
      );
    };

    const rollback = new Procedure(this, 'ProviderRollback', {
      name: 'provider-rollback',
      bindings: { ...common, ...stepBindings('provider-rollback') },
      logRetention,
      alarmTopic: topic,
    });
    const cutover = new Procedure(this, 'ProviderCutover', {
      name: 'provider-cutover',
      bindings: {
        ...common,
        ...stepBindings('provider-cutover'),
        ProviderRollbackStateMachineArn: { stateMachine: rollback.stateMachine },
      },
      logRetention,
      alarmTopic: topic,
    });
    const janitor = this.lock.addJanitor({
      environment: stage.name,
      guarded: [cutover.stateMachine, rollback.stateMachine],
      topic,
      logRetention,
    });
    this.procedures = { 'provider-rollback': rollback, 'provider-cutover': cutover, 'lock-janitor': janitor };

    for (const name of PROCEDURES) {
      const procedure = this.procedures[name];
      new StringParameter(this, `ProcedureArn-${name}`, {
        parameterName: procedureParameterName(stage, name),
        stringValue: procedure.stateMachine.stateMachineArn,
        description: `Switchback ${stage.name}: ARN of the ${name} state machine (read by the switchback CLI)`,
      });
      new CfnOutput(this, `${pascal(name)}StateMachineArn`, {
        value: procedure.stateMachine.stateMachineArn,
      });
    }
    new StringParameter(this, 'LockTableParameter', {
      parameterName: lockTableParameterName(stage),
      stringValue: this.lock.table.tableName,
      description: `Switchback ${stage.name}: name of the execution lock table (read by the switchback CLI)`,
    });
    new CfnOutput(this, 'NotificationTopicArn', { value: topic.topicArn });
    new CfnOutput(this, 'BackupBucketName', { value: this.backups.bucket.bucketName });
    new CfnOutput(this, 'LockTableName', { value: this.lock.table.tableName });
    new CfnOutput(this, 'FlagPrefix', { value: parameterPrefix(stage) });
  }
}

function pascal(name: string): string {
  return name.replace(/(^|-)([a-z])/g, (_m, _d, c: string) => c.toUpperCase());
}
