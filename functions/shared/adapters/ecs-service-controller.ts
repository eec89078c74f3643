import { setTimeout as sleep } from 'node:timers/promises';
import {
  ClusterNotFoundException,
  ConflictException,
  DescribeServiceDeploymentsCommand,
  DescribeServiceRevisionsCommand,
  DescribeServicesCommand,
  type ECSClient,
  InvalidParameterException,
  ListServiceDeploymentsCommand,
  type Service,
  type ServiceDeploymentBrief,
  ServiceDeploymentNotFoundException,
  ServiceNotFoundException,
  StopServiceDeploymentCommand,
  UpdateServiceCommand,
} from '@aws-sdk/client-ecs';
import { DeploymentFailedError, DeploymentNotStoppableError, ServiceNotFoundError } from '../errors';
import type { Deployment, ServiceController, ServiceKey, ServiceState } from '../ports';

const STATUSES = new Set(['PRIMARY', 'ACTIVE', 'INACTIVE']);
const ROLLOUTS = new Set(['IN_PROGRESS', 'COMPLETED', 'FAILED']);

/**
 * Service deployment states StopServiceDeployment accepts for a rollback: PENDING and
 * IN_PROGRESS move to ROLLBACK_REQUESTED; ROLLBACK_REQUESTED and ROLLBACK_IN_PROGRESS continue the
 * rollback (so a retried call is harmless). STOP_REQUESTED would only continue to stop: not listed.
 */
const STOPPABLE = ['PENDING', 'IN_PROGRESS', 'ROLLBACK_REQUESTED', 'ROLLBACK_IN_PROGRESS'] as const;

/** ARNs per DescribeServiceDeployments / DescribeServiceRevisions request (the APIs' maximum). */
const ARNS_PER_REQUEST = 20;

export interface EcsServiceControllerOptions {
  /** How often, and how far apart, to look for the deployment carrying a rollback after stopping one. */
  readonly rollbackPolls?: { readonly attempts: number; readonly intervalMs: number };
  readonly sleep?: (ms: number) => Promise<unknown>;
}

const ecsError = (err: unknown) => (err instanceof Error ? `${err.name}: ${err.message}` : String(err));

/** The API and sidecar as ECS services of one cluster. */
export class EcsServiceController implements ServiceController {
  private readonly rollbackPolls: { readonly attempts: number; readonly intervalMs: number };
  private readonly sleep: (ms: number) => Promise<unknown>;

  constructor(
    private readonly client: ECSClient,
    private readonly cluster: string,
    private readonly names: Record<ServiceKey, string>,
    options: EcsServiceControllerOptions = {},
  ) {
    this.rollbackPolls = options.rollbackPolls ?? { attempts: 5, intervalMs: 2000 };
    this.sleep = options.sleep ?? ((ms) => sleep(ms));
  }

  async describe(service: ServiceKey): Promise<ServiceState> {
    const out = await this.client.send(
      new DescribeServicesCommand({ cluster: this.cluster, services: [this.names[service]] }),
    );
    const svc = out.services?.[0];
    if (!svc || svc.status === 'INACTIVE' || !svc.taskDefinition) {
      throw new ServiceNotFoundError(
        `ECS service ${this.names[service]} not found in cluster ${this.cluster}`,
      );
    }
    const deployments: Deployment[] = (svc.deployments ?? []).map((d) => ({
      id: d.id ?? 'unknown',
      status: (STATUSES.has(d.status ?? '') ? d.status : 'ACTIVE') as Deployment['status'],
      rolloutState: (ROLLOUTS.has(d.rolloutState ?? '')
        ? d.rolloutState
        : 'IN_PROGRESS') as Deployment['rolloutState'],
      desiredCount: d.desiredCount ?? 0,
      runningCount: d.runningCount ?? 0,
      taskDefinition: d.taskDefinition ?? svc.taskDefinition ?? 'unknown',
    }));
    return {
      taskDefinition: svc.taskDefinition,
      desiredCount: svc.desiredCount ?? 0,
      runningCount: svc.runningCount ?? 0,
      deployments,
    };
  }

  async scale(service: ServiceKey, desiredCount: number) {
    const before = await this.describe(service);
    let out: { service?: Service };
    try {
      out = await this.client.send(
        new UpdateServiceCommand({ cluster: this.cluster, service: this.names[service], desiredCount }),
      );
    } catch (err) {
      throw this.notFound(err, this.names[service]);
    }
    const primary = out.service?.deployments?.find((d) => d.status === 'PRIMARY');
    if (!primary?.id) throw new ServiceNotFoundError(`ECS reported no deployment for ${this.names[service]}`);
    return { deploymentId: primary.id, previousDesiredCount: before.desiredCount };
  }

  async redeploy(service: ServiceKey, taskDefinition?: string) {
    let out: { service?: Service };
    try {
      out = await this.client.send(
        new UpdateServiceCommand({
          cluster: this.cluster,
          service: this.names[service],
          forceNewDeployment: true,
          ...(taskDefinition ? { taskDefinition } : {}),
        }),
      );
    } catch (err) {
      throw this.notFound(err, this.names[service]);
    }
    const primary = out.service?.deployments?.find((d) => d.status === 'PRIMARY');
    if (!primary?.id || !out.service?.taskDefinition) {
      throw new ServiceNotFoundError(`ECS did not report a new deployment for ${this.names[service]}`);
    }
    return { deploymentId: primary.id, taskDefinition: out.service.taskDefinition };
  }

  /**
   * StopServiceDeployment with stopType ROLLBACK. The deployment (`ecs-svc/...`, as DescribeServices
   * reports it) must be one of the service's and still IN_PROGRESS; it is resolved to its service
   * deployment ARN as ECS's deployment history lists it: the service deployment in a stoppable
   * state whose target revision runs the deployment's task definition (ListServiceDeployments,
   * DescribeServiceRevisions). After the call, the revision ECS rolls back to (the service
   * deployment's `rollback`, else its source revision) gives the task definition, and the PRIMARY
   * deployment running it (DescribeServices, polled briefly) is the one to wait on.
   */
  async stopDeployment(
    service: ServiceKey,
    deploymentId: string,
  ): Promise<{ deploymentId: string; taskDefinition: string }> {
    const name = this.names[service];
    const before = await this.describe(service);
    const stopping = before.deployments.find((d) => d.id === deploymentId);
    if (!stopping) {
      throw new DeploymentNotStoppableError(
        `${name}: deployment ${deploymentId} is not among its deployments (${before.deployments.map((d) => d.id).join(', ') || 'none'})`,
      );
    }
    if (stopping.rolloutState !== 'IN_PROGRESS') {
      throw new DeploymentNotStoppableError(
        `${name}: deployment ${deploymentId} is ${stopping.rolloutState}, not IN_PROGRESS: there is nothing to stop`,
      );
    }
    const arn = await this.serviceDeploymentOf(name, deploymentId, stopping.taskDefinition);
    try {
      await this.client.send(
        new StopServiceDeploymentCommand({ serviceDeploymentArn: arn, stopType: 'ROLLBACK' }),
      );
    } catch (err) {
      if (
        err instanceof ConflictException ||
        err instanceof ServiceDeploymentNotFoundException ||
        err instanceof InvalidParameterException
      ) {
        throw new DeploymentNotStoppableError(`ECS refused to stop ${arn} (${name}): ${ecsError(err)}`, {
          cause: err,
        });
      }
      throw this.notFound(err, name);
    }
    const target = await this.rollbackTaskDefinition(name, arn);
    for (let attempt = 1; ; attempt += 1) {
      const now = await this.describe(service);
      const primary = now.deployments.find((d) => d.status === 'PRIMARY');
      if (primary && primary.id !== deploymentId && (target === null || primary.taskDefinition === target)) {
        return { deploymentId: primary.id, taskDefinition: primary.taskDefinition };
      }
      if (attempt >= this.rollbackPolls.attempts) {
        throw new DeploymentFailedError(
          `${name}: ECS accepted the rollback of ${deploymentId} (${arn}) but after ${attempt} looks its PRIMARY deployment is ${primary ? `${primary.id} on ${primary.taskDefinition}` : 'missing'}${target ? `, not one on ${target}` : ''}`,
        );
      }
      await this.sleep(this.rollbackPolls.intervalMs);
    }
  }

  private notFound(err: unknown, name: string): unknown {
    return err instanceof ServiceNotFoundException || err instanceof ClusterNotFoundException
      ? new ServiceNotFoundError(`ECS service ${name} not found in cluster ${this.cluster}`, { cause: err })
      : err;
  }

  /** The stoppable service deployment whose target revision runs the deployment's task definition. */
  private async serviceDeploymentOf(
    name: string,
    deploymentId: string,
    taskDefinition: string,
  ): Promise<string> {
    const briefs: ServiceDeploymentBrief[] = [];
    try {
      let nextToken: string | undefined;
      do {
        const out = await this.client.send(
          new ListServiceDeploymentsCommand({
            cluster: this.cluster,
            service: name,
            status: [...STOPPABLE],
            maxResults: 100,
            nextToken,
          }),
        );
        briefs.push(...(out.serviceDeployments ?? []));
        nextToken = out.nextToken;
      } while (nextToken);
    } catch (err) {
      throw this.notFound(err, name);
    }
    const revisions = await this.taskDefinitions(
      name,
      briefs.map((b) => b.targetServiceRevisionArn).filter((a): a is string => Boolean(a)),
    );
    const match = briefs
      .filter(
        (b) => b.serviceDeploymentArn && revisions.get(b.targetServiceRevisionArn ?? '') === taskDefinition,
      )
      .sort((a, b) => (b.createdAt?.getTime() ?? 0) - (a.createdAt?.getTime() ?? 0))[0];
    if (!match?.serviceDeploymentArn) {
      throw new DeploymentNotStoppableError(
        briefs.length === 0
          ? `${name}: ECS lists no service deployment in progress (${STOPPABLE.join(', ')}) for ${deploymentId}`
          : `${name}: none of the ${briefs.length} service deployments in progress deploys ${taskDefinition} (${deploymentId})`,
      );
    }
    return match.serviceDeploymentArn;
  }

  /** The task definition the stopped service deployment rolls back to, or null when ECS does not say. */
  private async rollbackTaskDefinition(name: string, arn: string): Promise<string | null> {
    let revision: string | undefined;
    try {
      const out = await this.client.send(
        new DescribeServiceDeploymentsCommand({ serviceDeploymentArns: [arn] }),
      );
      const d = out.serviceDeployments?.[0];
      // With several source revisions, the one serving most tasks.
      const source = [...(d?.sourceServiceRevisions ?? [])].sort(
        (a, b) => (b.runningTaskCount ?? 0) - (a.runningTaskCount ?? 0),
      )[0];
      revision = d?.rollback?.serviceRevisionArn ?? source?.arn;
    } catch (err) {
      throw this.notFound(err, name);
    }
    if (!revision) return null;
    return (await this.taskDefinitions(name, [revision])).get(revision) ?? null;
  }

  /** Task definitions of service revisions, by revision ARN. */
  private async taskDefinitions(name: string, arns: readonly string[]): Promise<Map<string, string>> {
    const found = new Map<string, string>();
    const unique = [...new Set(arns)];
    try {
      for (let i = 0; i < unique.length; i += ARNS_PER_REQUEST) {
        const out = await this.client.send(
          new DescribeServiceRevisionsCommand({ serviceRevisionArns: unique.slice(i, i + ARNS_PER_REQUEST) }),
        );
        for (const r of out.serviceRevisions ?? []) {
          if (r.serviceRevisionArn && r.taskDefinition) found.set(r.serviceRevisionArn, r.taskDefinition);
        }
      }
    } catch (err) {
      throw this.notFound(err, name);
    }
    return found;
  }
}
