import { ArnFormat, Stack } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { ManagedPolicy, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { StateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { flagParameterName } from '../functions/shared/flags';
import type { BackupBucket } from './backup-bucket';
import { acknowledgeWildcardResource } from './nag';

export interface OperatorPolicyProps {
  readonly environment: string;
  /** Where the CLI finds the stack (`/switchback/<env>`): procedure ARNs, table and bucket names, flags. */
  readonly cliPrefix: string;
  /** Every state machine the stack publishes for the CLI. */
  readonly stateMachines: readonly StateMachine[];
  /** Those that wait for an operator's task token (`approve` answers them). */
  readonly approvals: readonly StateMachine[];
  readonly lockTable: ITable;
  readonly journalTable: ITable;
  readonly backups: BackupBucket;
}

/**
 * The operator's least privilege: one managed policy with exactly the AWS calls the `switchback`
 * CLI makes against this stack, each on this stack's resources only. Attach it to the operators'
 * role or group (the stack outputs its ARN); `rehearse` and `config check` need no AWS access.
 *
 * - `status`, `describe`, `executions`, and every command's discovery: `ssm:GetParameter` and
 *   `ssm:GetParametersByPath` under `/switchback/<env>/`;
 * - `pause`, `resume`: `ssm:PutParameter` on `automation/paused` only;
 * - `start`, `abort` (the rollback it starts), `executions`, `approve` (finding the rollout):
 *   `states:StartExecution` and `states:ListExecutions` on the stack's state machines;
 * - `watch`, `describe`, `start --wait`, `abort`, `approve`: `states:DescribeExecution`,
 *   `states:GetExecutionHistory` and `states:StopExecution` on executions of those state machines;
 * - `approve`: `states:SendTaskSuccess` and `states:SendTaskFailure` on the state machines that
 *   wait for a task token (scoped as the CDK's own `grantTaskResponse` scopes them);
 * - `status`, `abort`, `unlock`: `dynamodb:GetItem`, `UpdateItem`, `DeleteItem` on the lock table;
 * - `history`: `dynamodb:Query` on the journal table;
 * - `backups`: `s3:ListBucket` for keys under `backups/<env>/`, `s3:GetObject` of those keys, and
 *   `kms:Decrypt` of the bucket key through S3 only.
 */
export class OperatorPolicy extends Construct {
  public readonly policy: ManagedPolicy;

  constructor(scope: Construct, id: string, props: OperatorPolicyProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const parameter = (name: string) =>
      stack.formatArn({ service: 'ssm', resource: 'parameter', resourceName: name.slice(1) });
    const parameters = parameter(`${props.cliPrefix}/*`);
    if (props.approvals.length === 0)
      throw new Error('OperatorPolicy: no state machine waits for an approval');
    const executions = props.stateMachines.map((m) =>
      stack.formatArn({
        service: 'states',
        resource: 'execution',
        resourceName: `${m.stateMachineName}:*`,
        arnFormat: ArnFormat.COLON_RESOURCE_NAME,
      }),
    );
    const backupPrefix = `backups/${props.environment}`;
    const backupObjects = props.backups.bucket.arnForObjects(`${backupPrefix}/*`);
    const drillPrefix = `drills/${props.environment}`;
    const drillObjects = props.backups.bucket.arnForObjects(`${drillPrefix}/*`);

    const statements = [
      new PolicyStatement({
        sid: 'Discovery',
        actions: ['ssm:GetParameter', 'ssm:GetParametersByPath'],
        resources: [parameter(props.cliPrefix), parameters],
      }),
      new PolicyStatement({
        sid: 'PauseResume',
        actions: ['ssm:PutParameter'],
        resources: [parameter(flagParameterName(props.cliPrefix, 'automation/paused'))],
      }),
      new PolicyStatement({
        sid: 'StartAndList',
        actions: ['states:StartExecution', 'states:ListExecutions'],
        resources: props.stateMachines.map((m) => m.stateMachineArn),
      }),
      new PolicyStatement({
        sid: 'WatchAndAbort',
        actions: ['states:DescribeExecution', 'states:GetExecutionHistory', 'states:StopExecution'],
        resources: executions,
      }),
      new PolicyStatement({
        sid: 'Approve',
        actions: ['states:SendTaskSuccess', 'states:SendTaskFailure'],
        resources: props.approvals.map((m) => m.stateMachineArn),
      }),
      new PolicyStatement({
        sid: 'Lock',
        actions: ['dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'],
        resources: [props.lockTable.tableArn],
      }),
      new PolicyStatement({
        sid: 'History',
        actions: ['dynamodb:Query'],
        resources: [props.journalTable.tableArn],
      }),
      new PolicyStatement({
        sid: 'ListBackups',
        actions: ['s3:ListBucket'],
        resources: [props.backups.bucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': [`${backupPrefix}/*`, `${drillPrefix}/*`] } },
      }),
      new PolicyStatement({
        sid: 'ReadBackups',
        actions: ['s3:GetObject'],
        resources: [backupObjects, drillObjects],
      }),
    ];
    if (props.backups.encryptionKey) {
      statements.push(
        new PolicyStatement({
          sid: 'DecryptBackups',
          actions: ['kms:Decrypt'],
          resources: [props.backups.encryptionKey.keyArn],
          conditions: { StringEquals: { 'kms:ViaService': `s3.${stack.region}.amazonaws.com` } },
        }),
      );
    }
    this.policy = new ManagedPolicy(this, 'Policy', {
      description: `Switchback ${props.environment}: what the switchback CLI needs against this stack, nothing else`,
      statements,
    });

    const why = {
      parameters:
        'The CLI reads the parameters this stack publishes under its own prefix (procedure ARNs, table and bucket names, flags); names are fixed by the stack, the wildcard covers only them.',
      executions:
        'watch, describe and abort name executions chosen at run time; the grant covers executions of this stack state machines only.',
      backups:
        'switchback backups reads the manifests of this environment under backups/<env>/; keys are chosen at backup time.',
    };
    acknowledgeWildcardResource(this.policy, parameters, why.parameters);
    for (const arn of executions) acknowledgeWildcardResource(this.policy, arn, why.executions);
    acknowledgeWildcardResource(this.policy, backupObjects, why.backups);
    acknowledgeWildcardResource(
      this.policy,
      drillObjects,
      'switchback drills reads the drill reports of this environment under drills/<env>/; keys are named after each drill.',
    );
  }
}
