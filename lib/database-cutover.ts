import { Construct } from 'constructs';
import type { DatabaseRuntimeConfig } from '../functions/shared/database-config';
import type { BackupBucket } from './backup-bucket';
import type { DataProtection } from './data-protection';
import type { Flags } from './flags';
import { Procedure, type ProcedureContext } from './procedure';

export interface DatabaseCutoverProps {
  /** The environment's steps, lock, topic and log retention. */
  readonly context: ProcedureContext;
  /** The stage's database section, as the steps receive it. */
  readonly database: DatabaseRuntimeConfig;
  readonly flags: Flags;
  /** Checkpoints, evidence and reports go under `<reportPrefix>/<env>/`; change records are read. */
  readonly backups: BackupBucket;
  /** The change records' prefix (the rollback plans from the cutover's record). */
  readonly changeRecordPrefix: string;
  /** The backup procedure the cutover starts for a verified backup of the target (from `data`). */
  readonly data?: DataProtection;
}

/** The procedures this construct deploys. */
export const DATABASE_PROCEDURES = ['database-rollback', 'database-cutover'] as const;
export type DatabaseProcedureName = (typeof DATABASE_PROCEDURES)[number];

/**
 * Seed 002's database cutover: `database-cutover` (maintenance, verified backup of the target,
 * the Qdrant -> pgvector migration, gates, the `database/active` switch, restart, smoke tests,
 * monitoring window, sign-off) and `database-rollback` (run by the cutover's Catch, the rollback
 * router for a data rollback, or an operator), with the permissions of their steps: each reads
 * only the secret parameters it resolves, and only the migration and the checks reach the stores.
 */
export class DatabaseCutover extends Construct {
  public readonly cutover: Procedure;
  public readonly rollback: Procedure;

  constructor(scope: Construct, id: string, props: DatabaseCutoverProps) {
    super(scope, id);
    const fns = props.context.steps;
    const { source, target } = props.database;
    fns['migrate-vectors']
      .bindDatabaseSecrets([target.connection], { qdrantKey: true })
      .bindDatabaseCutovers(props.backups);
    fns['database-check']
      .bindDatabaseSecrets([source.connection, target.connection], { qdrantKey: true })
      .bindDatabaseCutovers(props.backups)
      .bindChangeRecords(props.backups, props.changeRecordPrefix, 'read')
      .bindFlags(props.flags, ['database/active'], 'read');
    fns['database-report'].bindDatabaseCutovers(props.backups);
    // database-input reads only its configuration.

    this.rollback = new Procedure(this, 'Rollback', {
      name: 'database-rollback',
      context: props.context,
    });
    this.cutover = new Procedure(this, 'Cutover', {
      name: 'database-cutover',
      context: props.context,
      bindings: {
        DatabaseRollbackStateMachineArn: { stateMachine: this.rollback.stateMachine },
        // Without `data` the stage config refuses `database` (its backups name data.postgres databases).
        BackupStateMachineArn: props.data
          ? { stateMachine: props.data.procedures.backup.stateMachine }
          : { notDeployed: `switchback-${props.context.environment}-backup-not-deployed` },
      },
    });
  }
}
