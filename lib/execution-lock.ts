import { Table } from 'aws-cdk-lib/aws-dynamodb';
import { Rule } from 'aws-cdk-lib/aws-events';
import { SfnStateMachine } from 'aws-cdk-lib/aws-events-targets';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { StateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { LOCK_TABLE_DEFAULTS } from './defaults';
import { Procedure, type ProcedureContext } from './procedure';

/** Execution statuses after which a lock may have been left behind. */
export const JANITOR_STATUSES = ['FAILED', 'TIMED_OUT', 'ABORTED'] as const;

export interface LockJanitorProps {
  /**
   * The environment's steps, topic and log retention (the janitor observes the maintenance flag
   * before it releases anything, and reports to the topic).
   */
  readonly context: ProcedureContext;
  /** The state machines that take the lock; the janitor reacts to their executions only. */
  readonly guarded: readonly StateMachine[];
}

/**
 * One change at a time per environment. The lock is one DynamoDB item (`pk` = environment) that
 * the procedures write and delete themselves through the native DynamoDB integration with
 * conditions; its semantics live in the ASL: `owner` (the execution, or the cutover a rollback
 * runs for) and `status` (`held`, or `needs-operator` when a rollback could not verify and a human
 * must look before anything else runs).
 *
 * An execution that fails, times out or is aborted cannot release its own lock, so the janitor
 * (`statemachines/lock-janitor.asl.json`) is started by EventBridge on those status changes of the
 * guarded state machines. It deletes the item only if that execution owns it and its status is
 * `held`; a `needs-operator` lock stays until `switchback unlock`.
 */
export class ExecutionLock extends Construct {
  public readonly table: Table;
  private janitorProcedure?: Procedure;
  private janitorRule?: Rule;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    this.table = new Table(this, 'Table', { ...LOCK_TABLE_DEFAULTS });
  }

  /** The janitor procedure, once `addJanitor` ran. */
  get janitor(): Procedure | undefined {
    return this.janitorProcedure;
  }

  /** The EventBridge rule that starts the janitor, once `addJanitor` ran. */
  get rule(): Rule | undefined {
    return this.janitorRule;
  }

  /**
   * Adds the janitor for the given guarded state machines. The rule's target role may only
   * `states:StartExecution` on the janitor.
   */
  addJanitor(props: LockJanitorProps): Procedure {
    if (this.janitorProcedure) throw new Error('ExecutionLock: the janitor exists already');
    if (props.guarded.length === 0)
      throw new Error('ExecutionLock: the janitor needs at least one guarded state machine');

    const janitor = new Procedure(this, 'Janitor', {
      name: 'lock-janitor',
      context: { ...props.context, lockTable: this.table },
    });

    const rule = new Rule(this, 'JanitorRule', {
      description: `Switchback ${props.context.environment}: release the lock of a cutover or rollback that stopped abnormally`,
      eventPattern: {
        source: ['aws.states'],
        detailType: ['Step Functions Execution Status Change'],
        detail: {
          status: [...JANITOR_STATUSES],
          stateMachineArn: props.guarded.map((sm) => sm.stateMachineArn),
        },
      },
    });
    const role = new Role(this, 'JanitorTriggerRole', {
      assumedBy: new ServicePrincipal('events.amazonaws.com'),
      description: `Switchback ${props.context.environment}: lets EventBridge start the lock janitor, nothing else`,
    });
    rule.addTarget(new SfnStateMachine(janitor.stateMachine, { role }));

    this.janitorProcedure = janitor;
    this.janitorRule = rule;
    return janitor;
  }
}
