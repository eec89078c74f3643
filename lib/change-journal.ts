import { Duration, Stack } from 'aws-cdk-lib';
import { AttributeType, Table } from 'aws-cdk-lib/aws-dynamodb';
import { Rule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import type { WatchedParameters } from '../functions/shared/watched-config';
import { LOCK_TABLE_DEFAULTS } from './defaults';
import type { HouseFunction } from './house-function';
import { acknowledgeWildcardResource } from './nag';

/** DynamoDB TTL attribute of a journal entry (epoch seconds). */
export const JOURNAL_TTL_ATTRIBUTE = 'expiresAt';

export interface ChangeJournalProps {
  readonly environment: string;
  /** The ECS cluster of the protected services. */
  readonly cluster: string;
  /** Protected services by key -> ECS service name. */
  readonly services: Readonly<Record<string, string>>;
  /** The app's parameters the journal watches. */
  readonly watched: WatchedParameters;
}

/**
 * The change journal of one environment: a table (`pk` environment, `sk` `<time>#<source>#<event
 * id>`, TTL on `expiresAt`, point-in-time recovery, retained) and, once `connect` ran, two
 * EventBridge rules delivering `ECS Deployment State Change` events of the protected services and
 * `Parameter Store Change` events of the watched parameters to the journal step.
 */
export class ChangeJournal extends Construct {
  public readonly table: Table;
  public deploymentRule?: Rule;
  public parameterRule?: Rule;

  constructor(
    scope: Construct,
    id: string,
    private readonly props: ChangeJournalProps,
  ) {
    super(scope, id);
    if (Object.keys(props.services).length === 0) throw new Error('ChangeJournal: name at least one service');
    this.table = new Table(this, 'Table', {
      ...LOCK_TABLE_DEFAULTS,
      sortKey: { name: 'sk', type: AttributeType.STRING },
      timeToLiveAttribute: JOURNAL_TTL_ATTRIBUTE,
    });
  }

  /** Service ARNs of the protected services on the cluster. */
  serviceArns(): string[] {
    const stack = Stack.of(this);
    return Object.values(this.props.services).map((name) =>
      stack.formatArn({ service: 'ecs', resource: 'service', resourceName: `${this.props.cluster}/${name}` }),
    );
  }

  /** Parameter ARNs of the watched parameters. */
  parameterArns(): string[] {
    const stack = Stack.of(this);
    return Object.values(this.props.watched).map((p) =>
      stack.formatArn({ service: 'ssm', resource: 'parameter', resourceName: p.name.slice(1) }),
    );
  }

  /** Lets a step add Switchback's own entries (change records, verified backups): a conditional put only. */
  grantPut(fn: HouseFunction): void {
    fn.role.addToPrincipalPolicy(
      new PolicyStatement({ actions: ['dynamodb:PutItem'], resources: [this.table.tableArn] }),
    );
  }

  /** Lets a step read the journal (a rollback plan, `switchback history`): Query on this table only. */
  grantRead(fn: HouseFunction): void {
    fn.role.addToPrincipalPolicy(
      new PolicyStatement({ actions: ['dynamodb:Query'], resources: [this.table.tableArn] }),
    );
  }

  /**
   * Lets a step read the watched parameters' current versions (`GetParameter`, never decrypted:
   * no kms:Decrypt), and with `read-write` put back the values of those that are not SecureStrings
   * (`PutParameter` on exactly those ARNs).
   */
  grantWatched(fn: HouseFunction, access: 'read' | 'read-write'): void {
    const stack = Stack.of(this);
    const arn = (name: string) =>
      stack.formatArn({ service: 'ssm', resource: 'parameter', resourceName: name.slice(1) });
    const all = Object.values(this.props.watched);
    if (all.length === 0) return;
    fn.role.addToPrincipalPolicy(
      new PolicyStatement({ actions: ['ssm:GetParameter'], resources: all.map((p) => arn(p.name)) }),
    );
    const writable = all.filter((p) => !p.secure);
    if (access === 'read-write' && writable.length > 0) {
      fn.role.addToPrincipalPolicy(
        new PolicyStatement({ actions: ['ssm:PutParameter'], resources: writable.map((p) => arn(p.name)) }),
      );
    }
  }

  /**
   * Lets a step stop an ECS deployment of the given services with ROLLBACK (`EcsServiceController
   * .stopDeployment`): list, describe and stop their service deployments and describe their
   * revisions, as AWS's own sample policy for service deployments scopes them.
   */
  grantStopDeployment(fn: HouseFunction, services: readonly string[]): void {
    const stack = Stack.of(this);
    const { cluster } = this.props;
    const arn = (resource: string, name: string, suffix = '') =>
      stack.formatArn({ service: 'ecs', resource, resourceName: `${cluster}/${name}${suffix}` });
    const deployments = services.map((name) => arn('service-deployment', name, '/*'));
    const revisions = services.map((name) => arn('service-revision', name, '/*'));
    fn.role.addToPrincipalPolicy(
      new PolicyStatement({
        actions: [
          'ecs:ListServiceDeployments',
          'ecs:DescribeServiceDeployments',
          'ecs:DescribeServiceRevisions',
        ],
        resources: [...services.map((name) => arn('service', name)), ...deployments, ...revisions],
      }),
    );
    fn.role.addToPrincipalPolicy(
      new PolicyStatement({ actions: ['ecs:StopServiceDeployment'], resources: deployments }),
    );
    for (const wildcard of [...deployments, ...revisions]) {
      acknowledgeWildcardResource(
        fn.role,
        wildcard,
        'ECS names service deployments and revisions with ids created at deploy time: the grant is limited to the api and sidecar services of this cluster.',
      );
    }
  }

  /**
   * Makes `fn` the rules' target and grants it exactly what resolving an event needs: a
   * conditional put into this table, ECS deployment history of the protected services only, and
   * GetParameterHistory of the watched parameters only (no kms:Decrypt: SecureStrings stay
   * ciphertext, and the code drops even that).
   */
  connect(fn: HouseFunction): void {
    if (this.deploymentRule) throw new Error('ChangeJournal: connected already');
    const { environment, cluster, services, watched } = this.props;
    const stack = Stack.of(this);
    this.grantPut(fn);
    fn.role.addToPrincipalPolicy(
      new PolicyStatement({ actions: ['ecs:ListServiceDeployments'], resources: this.serviceArns() }),
    );
    const scoped = (resource: string) =>
      Object.values(services).map((name) =>
        stack.formatArn({ service: 'ecs', resource, resourceName: `${cluster}/${name}/*` }),
      );
    const deployments = scoped('service-deployment');
    const revisions = scoped('service-revision');
    fn.role.addToPrincipalPolicy(
      new PolicyStatement({ actions: ['ecs:DescribeServiceDeployments'], resources: deployments }),
    );
    fn.role.addToPrincipalPolicy(
      new PolicyStatement({ actions: ['ecs:DescribeServiceRevisions'], resources: revisions }),
    );
    for (const arn of [...deployments, ...revisions]) {
      acknowledgeWildcardResource(
        fn.role,
        arn,
        'ECS names service deployments and revisions with ids created at deploy time: the grant is limited to the protected services of this cluster.',
      );
    }
    const parameters = this.parameterArns();
    if (parameters.length > 0) {
      fn.role.addToPrincipalPolicy(
        new PolicyStatement({ actions: ['ssm:GetParameterHistory'], resources: parameters }),
      );
    }

    const target = () =>
      new LambdaFunction(fn.function, { retryAttempts: 8, maxEventAge: Duration.hours(6) });
    this.deploymentRule = new Rule(this, 'DeploymentRule', {
      description: `Switchback ${environment}: journal ECS deployments of the protected services`,
      eventPattern: {
        source: ['aws.ecs'],
        detailType: ['ECS Deployment State Change'],
        resources: this.serviceArns(),
      },
      targets: [target()],
    });
    const names = Object.values(watched).map((p) => p.name);
    if (names.length > 0) {
      this.parameterRule = new Rule(this, 'ParameterRule', {
        description: `Switchback ${environment}: journal changes of the watched parameters`,
        eventPattern: {
          source: ['aws.ssm'],
          detailType: ['Parameter Store Change'],
          detail: { name: names, operation: ['Create', 'Update', 'Delete'] },
        },
        targets: [target()],
      });
    }
  }
}
