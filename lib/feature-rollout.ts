import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { functionPlaceholder, STEP_NAMES, type StepName } from '../functions/index';
import type { GateMetricsSpec } from '../functions/shared/gate-metrics';
import { MEMORY_CONTEXT_FLAG } from '../functions/shared/memory-context';
import type { BackupBucket } from './backup-bucket';
import type { Flags } from './flags';
import type { HouseFunction } from './house-function';
import { Procedure, type ProcedureBinding } from './procedure';

export interface FeatureRolloutProps {
  /** Environment name (the lock item's key, notification attributes). */
  readonly environment: string;
  readonly flags: Flags;
  /** Where rollout logs go (`rollouts/<env>/`). */
  readonly backups: BackupBucket;
  /** The stack's step functions; this construct binds the rollout's own. */
  readonly functions: Readonly<Record<StepName, HouseFunction>>;
  readonly lockTable: ITable;
  readonly topic: ITopic;
  readonly logRetention: RetentionDays;
  /** Where the gate reads its signals and which alarms are P0 (see `gateMetricsSpec`). */
  readonly gateMetrics: GateMetricsSpec;
}

/**
 * Seed 003's phased rollout of the Memory & Context feature: the `feature-rollout` procedure
 * (phases, bakes, metric gates, approvals, dry run) and `feature-disable` (the emergency disable
 * it runs on failure, also started by operators and the alarm router), with the permissions of
 * the steps they use. Only the rollout's steps may write `features/memory-context`; the gate
 * alone reads CloudWatch.
 */
export class FeatureRollout extends Construct {
  public readonly rollout: Procedure;
  public readonly disable: Procedure;

  constructor(scope: Construct, id: string, props: FeatureRolloutProps) {
    super(scope, id);
    const fns = props.functions;
    const flag = [MEMORY_CONTEXT_FLAG] as const;
    fns.rollout.bindFlags(props.flags, flag, 'read-write').bindRolloutLogs(props.backups);
    fns['disable-feature'].bindFlags(props.flags, flag, 'read-write');
    fns['evaluate-gate']
      .bindFlags(props.flags, flag, 'read')
      .bindRolloutLogs(props.backups)
      .bindGateMetrics(props.gateMetrics);
    fns['request-approval'].bindRolloutLogs(props.backups);
    // feature-input and feature-check need no AWS permission (feature-check calls the app over HTTP).

    const common: Record<string, ProcedureBinding> = {
      Environment: { value: props.environment },
      LockTableName: { table: props.lockTable },
      NotificationTopicArn: { topic: props.topic },
    };
    const steps = (name: string): Record<string, ProcedureBinding> => {
      const used = new Set(Procedure.placeholders(Procedure.definition(name)));
      return Object.fromEntries(
        STEP_NAMES.filter((s) => used.has(functionPlaceholder(s))).map((s) => [
          functionPlaceholder(s),
          { function: fns[s] },
        ]),
      );
    };
    this.disable = new Procedure(this, 'Disable', {
      name: 'feature-disable',
      bindings: { ...common, ...steps('feature-disable') },
      logRetention: props.logRetention,
      alarmTopic: props.topic,
    });
    this.rollout = new Procedure(this, 'Rollout', {
      name: 'feature-rollout',
      bindings: {
        ...common,
        ...steps('feature-rollout'),
        FeatureDisableStateMachineArn: { stateMachine: this.disable.stateMachine },
      },
      logRetention: props.logRetention,
      alarmTopic: props.topic,
    });
  }
}
