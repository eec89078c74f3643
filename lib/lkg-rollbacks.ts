import { ArnFormat, Stack } from 'aws-cdk-lib';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { type AlarmCatalog, alarmName } from '../functions/shared/alarm-catalog';
import type { ChangeJournal } from './change-journal';
import type { HouseFunction } from './house-function';
import { Procedure, type ProcedureContext } from './procedure';

export interface LkgRollbacksProps {
  /** The environment's steps, lock, topic and log retention. */
  readonly context: ProcedureContext;
  /** Where the plan reads every change, and where the verified rollback is recorded. */
  readonly journal: ChangeJournal;
  /** The rollback alarms whose history decides what is last known good. */
  readonly alarmCatalog: AlarmCatalog;
  /** ECS names of the api and sidecar services (the services a code rollback controls). */
  readonly services: { readonly cluster: string; readonly api: string; readonly sidecar: string };
}

/**
 * Lets a step read the state history and state of this stage's rollback alarms, by name
 * (`CloudWatchAlarmHistory` asks for each catalog alarm): DescribeAlarmHistory and DescribeAlarms.
 */
export function grantAlarmHistory(fn: HouseFunction, catalog: AlarmCatalog): void {
  const stack = Stack.of(fn);
  const alarms = Object.keys(catalog.alarms).map((id) =>
    stack.formatArn({
      service: 'cloudwatch',
      resource: 'alarm',
      resourceName: alarmName(catalog, id),
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    }),
  );
  if (alarms.length === 0) return;
  fn.role.addToPrincipalPolicy(
    new PolicyStatement({
      actions: ['cloudwatch:DescribeAlarmHistory', 'cloudwatch:DescribeAlarms'],
      resources: alarms,
    }),
  );
}

/**
 * Any change rolled back, whoever made it: `code-rollback` (the api and sidecar back to their last
 * known good task definitions) and `config-rollback` (the watched parameters back to their last
 * known good values), both planned from the change journal and the rollback alarms' history.
 * The router runs them for an alarm; operators run them from the console or the CLI, with `plan`.
 */
export class LkgRollbacks extends Construct {
  public readonly code: Procedure;
  public readonly config: Procedure;

  constructor(scope: Construct, id: string, props: LkgRollbacksProps) {
    super(scope, id);
    const { context, journal } = props;
    const fns = context.steps;
    const plan = fns['rollback-plan'];
    journal.grantRead(plan);
    journal.grantWatched(plan, 'read');
    plan
      .bindService('api', 'describe')
      .bindService('sidecar', 'describe')
      .bindAlarmCatalog(props.alarmCatalog);
    grantAlarmHistory(plan, props.alarmCatalog);

    const apply = fns['rollback-apply'];
    journal.grantPut(apply);
    journal.grantWatched(apply, 'read-write');
    journal.grantStopDeployment(apply, [props.services.api, props.services.sidecar]);
    apply
      .bindService('api', 'update')
      .bindService('sidecar', 'update')
      .bindService('api', 'describe')
      .bindService('sidecar', 'describe');
    // The map waits on the sidecar as well as the API.
    fns['check-stable'].bindService('sidecar', 'describe');

    this.code = new Procedure(this, 'Code', { name: 'code-rollback', context });
    this.config = new Procedure(this, 'Config', { name: 'config-rollback', context });
  }
}
