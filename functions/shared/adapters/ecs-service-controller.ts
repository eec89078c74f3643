import {
  ClusterNotFoundException,
  DescribeServicesCommand,
  type ECSClient,
  type Service,
  ServiceNotFoundException,
  UpdateServiceCommand,
} from '@aws-sdk/client-ecs';
import { ServiceNotFoundError } from '../errors';
import type { Deployment, ServiceController, ServiceKey, ServiceState } from '../ports';

const STATUSES = new Set(['PRIMARY', 'ACTIVE', 'INACTIVE']);
const ROLLOUTS = new Set(['IN_PROGRESS', 'COMPLETED', 'FAILED']);

/** The API and sidecar as ECS services of one cluster. */
export class EcsServiceController implements ServiceController {
  constructor(
    private readonly client: ECSClient,
    private readonly cluster: string,
    private readonly names: Record<ServiceKey, string>,
  ) {}

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
      if (err instanceof ServiceNotFoundException || err instanceof ClusterNotFoundException) {
        throw new ServiceNotFoundError(
          `ECS service ${this.names[service]} not found in cluster ${this.cluster}`,
        );
      }
      throw err;
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
      if (err instanceof ServiceNotFoundException || err instanceof ClusterNotFoundException) {
        throw new ServiceNotFoundError(
          `ECS service ${this.names[service]} not found in cluster ${this.cluster}`,
        );
      }
      throw err;
    }
    const primary = out.service?.deployments?.find((d) => d.status === 'PRIMARY');
    if (!primary?.id || !out.service?.taskDefinition) {
      throw new ServiceNotFoundError(`ECS did not report a new deployment for ${this.names[service]}`);
    }
    return { deploymentId: primary.id, taskDefinition: out.service.taskDefinition };
  }

  async stopDeployment(
    service: ServiceKey,
    deploymentId: string,
  ): Promise<{ deploymentId: string; taskDefinition: string }> {
    throw new ServiceNotFoundError(`stopDeployment of ${service} ${deploymentId}: not wired yet`);
  }
}
