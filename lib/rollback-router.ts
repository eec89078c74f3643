import { Stack } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import type { AlarmCatalog } from '../functions/shared/alarm-catalog';
import { METRICS_NAMESPACE } from '../functions/shared/metrics';
import type { BackupBucket } from './backup-bucket';
import type { ChangeJournal } from './change-journal';
import type { DatabaseCutover } from './database-cutover';
import type { FeatureRollout } from './feature-rollout';
import type { Flags } from './flags';
import { grantAlarmHistory, type LkgRollbacks } from './lkg-rollbacks';
import { Procedure, type ProcedureContext } from './procedure';
import type { ProviderProcedures } from './provider-procedures';

export interface RollbackRouterProps {
  /** The environment's steps, lock, topic and log retention. */
  readonly context: ProcedureContext;
  readonly flags: Flags;
  /** Change records are read from here; incident reports are written here. */
  readonly backups: BackupBucket;
  readonly changeRecordPrefix: string;
  /** What each rollback alarm means and which rollback it runs (the decision matrix). */
  readonly alarmCatalog: AlarmCatalog;
  readonly provider: ProviderProcedures;
  /** Code and config rollback: what the router runs for a change someone else made (a deploy, a hand edit). */
  readonly lkg: LkgRollbacks;
  /** The phased rollout's emergency disable: what undoes a completed feature rollout. */
  readonly features: FeatureRollout;
  /** The change journal: the router decides from it which change to undo. */
  readonly journal: ChangeJournal;
  /**
   * The database procedures: a data rollback runs `database-rollback`, and the router may stop a
   * database cutover in flight.
   * @default - none: the readiness check refuses data alarms, so that branch never runs
   */
  readonly database?: DatabaseCutover;
}

/**
 * The rollback router (seed 004's detect -> decide -> execute): started by a rollback alarm, it
 * opens one incident per environment, takes over the lock of a cutover in flight and stops it,
 * runs the rollback the decision matrix names, and writes the incident report.
 */
export class RollbackRouter extends Construct {
  public readonly procedure: Procedure;

  constructor(scope: Construct, id: string, props: RollbackRouterProps) {
    super(scope, id);
    const { context, database } = props;
    const fns = context.steps;
    fns['route-alarm']
      .bindFlags(props.flags, ['automation/paused'], 'read')
      // Alarms of this stack's account and region only: the step refuses events from elsewhere.
      .bindAlarmCatalog({
        ...props.alarmCatalog,
        origin: { account: Stack.of(this).account, region: Stack.of(this).region },
      });
    fns['plan-response'].bindChangeRecords(props.backups, props.changeRecordPrefix, 'read');
    props.journal.grantRead(fns['plan-response']);
    fns['plan-response'].bindAlarmCatalog(props.alarmCatalog);
    grantAlarmHistory(fns['plan-response'], props.alarmCatalog);
    fns['incident-report'].bindIncidentReports(props.backups).bindMetrics(METRICS_NAMESPACE);
    this.procedure = new Procedure(this, 'Procedure', {
      name: 'rollback-router',
      context,
      bindings: {
        ProviderRollbackStateMachineArn: { stateMachine: props.provider.rollback.stateMachine },
        CodeRollbackStateMachineArn: { stateMachine: props.lkg.code.stateMachine },
        ConfigRollbackStateMachineArn: { stateMachine: props.lkg.config.stateMachine },
        FeatureDisableStateMachineArn: { stateMachine: props.features.disable.stateMachine },
        DatabaseRollbackStateMachineArn: database
          ? { stateMachine: database.rollback.stateMachine }
          : { notDeployed: `switchback-${context.environment}-database-rollback-not-deployed` },
      },
      stoppable: [props.provider.cutover.stateMachine, ...(database ? [database.cutover.stateMachine] : [])],
    });
  }
}
