import { Construct } from 'constructs';
import type { DataProtection } from './data-protection';
import { Procedure, type ProcedureContext } from './procedure';

export interface ProviderProceduresProps {
  /** The environment's steps, lock, topic and log retention. */
  readonly context: ProcedureContext;
  /**
   * The backup procedure the cutover runs for every configured database before it changes anything.
   * @default - no `data`: the cutover's list of databases is empty and that Task never runs
   */
  readonly data?: DataProtection;
}

/**
 * Seed 000's provider cutover (`provider-cutover`: preflight, verified backups, change record,
 * switch to http, restart, verify) and its rollback (`provider-rollback`: flags back from the
 * change record, restart, verify), which the cutover runs as its compensation and the router runs
 * for an alarm.
 */
export class ProviderProcedures extends Construct {
  public readonly cutover: Procedure;
  public readonly rollback: Procedure;

  constructor(scope: Construct, id: string, props: ProviderProceduresProps) {
    super(scope, id);
    const { context } = props;
    this.rollback = new Procedure(this, 'Rollback', { name: 'provider-rollback', context });
    this.cutover = new Procedure(this, 'Cutover', {
      name: 'provider-cutover',
      context,
      bindings: {
        ProviderRollbackStateMachineArn: { stateMachine: this.rollback.stateMachine },
        // Without `data` the list of databases to back up is always empty: bound to an ARN that
        // names no state machine, and granted nothing.
        BackupStateMachineArn: props.data
          ? { stateMachine: props.data.procedures.backup.stateMachine }
          : { notDeployed: `switchback-${context.environment}-backup-not-deployed` },
      },
    });
  }
}
