import { Construct } from 'constructs';
import type { GateMetricsSpec } from '../functions/shared/gate-metrics';
import { MEMORY_CONTEXT_FLAG } from '../functions/shared/memory-context';
import type { BackupBucket } from './backup-bucket';
import type { Flags } from './flags';
import { Procedure, type ProcedureContext } from './procedure';

export interface FeatureRolloutProps {
  /** The environment's steps, lock, topic and log retention. */
  readonly context: ProcedureContext;
  readonly flags: Flags;
  /** Where rollout logs go (`rollouts/<env>/`). */
  readonly backups: BackupBucket;
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
    const fns = props.context.steps;
    const flag = [MEMORY_CONTEXT_FLAG] as const;
    fns.rollout
      .bindFlags(props.flags, flag, 'read-write')
      // The kill switch: a rollout does not advance while automation is paused.
      .bindFlags(props.flags, ['automation/paused'], 'read')
      .bindRolloutLogs(props.backups);
    fns['disable-feature'].bindFlags(props.flags, flag, 'read-write');
    fns['evaluate-gate']
      .bindFlags(props.flags, flag, 'read')
      .bindRolloutLogs(props.backups)
      .bindGateMetrics(props.gateMetrics);
    fns['request-approval'].bindRolloutLogs(props.backups);
    // feature-input and feature-check need no AWS permission (feature-check calls the app over HTTP).

    this.disable = new Procedure(this, 'Disable', {
      name: 'feature-disable',
      context: props.context,
    });
    this.rollout = new Procedure(this, 'Rollout', {
      name: 'feature-rollout',
      context: props.context,
      bindings: { FeatureDisableStateMachineArn: { stateMachine: this.disable.stateMachine } },
    });
  }
}
