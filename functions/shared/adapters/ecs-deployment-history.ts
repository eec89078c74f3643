import {
  DescribeServiceDeploymentsCommand,
  DescribeServiceRevisionsCommand,
  type ECSClient,
  ListServiceDeploymentsCommand,
} from '@aws-sdk/client-ecs';
import type { DeploymentHistory, ResolvedDeployment } from '../ports';

/**
 * Resolves an `ECS Deployment State Change` event with ECS's deployment history: the service
 * deployment the event belongs to (ListServiceDeployments up to the event's time, newest first),
 * then DescribeServiceDeployments for its source and target revisions and DescribeServiceRevisions
 * for their task definitions.
 */
export class EcsDeploymentHistory implements DeploymentHistory {
  constructor(
    private readonly client: ECSClient,
    private readonly cluster: string,
  ) {}

  async resolve(serviceName: string, deploymentId: string, at: Date): Promise<ResolvedDeployment> {
    const listed = await this.client.send(
      new ListServiceDeploymentsCommand({
        cluster: this.cluster,
        service: serviceName,
        // A deployment is created before ECS reports on it; a second of slack for clock rounding.
        createdAt: { before: new Date(at.getTime() + 1000) },
        maxResults: 20,
      }),
    );
    const briefs = (listed.serviceDeployments ?? [])
      .filter((b) => b.serviceDeploymentArn)
      .sort((a, b) => (b.createdAt?.getTime() ?? 0) - (a.createdAt?.getTime() ?? 0));
    // The event's id is `ecs-svc/<n>`; a service deployment whose ARN ends with it is that one.
    const suffix = deploymentId.split('/').pop() ?? deploymentId;
    const brief = briefs.find((b) => b.serviceDeploymentArn?.endsWith(`/${suffix}`)) ?? briefs[0];
    const arn = brief?.serviceDeploymentArn;
    if (!arn) return { serviceDeploymentArn: null, from: null, to: null };

    const described = await this.client.send(
      new DescribeServiceDeploymentsCommand({ serviceDeploymentArns: [arn] }),
    );
    const deployment = described.serviceDeployments?.[0];
    const target = deployment?.targetServiceRevision?.arn ?? brief.targetServiceRevisionArn;
    // With several source revisions (a deployment interrupting another) the one with most tasks served.
    const source = [...(deployment?.sourceServiceRevisions ?? [])].sort(
      (a, b) => (b.runningTaskCount ?? 0) - (a.runningTaskCount ?? 0),
    )[0]?.arn;
    const wanted = [target, source].filter((a): a is string => Boolean(a));
    if (wanted.length === 0) return { serviceDeploymentArn: arn, from: null, to: null };
    const revisions = await this.client.send(
      new DescribeServiceRevisionsCommand({ serviceRevisionArns: wanted }),
    );
    const taskDefinitionOf = (revision: string | undefined) =>
      revision
        ? (revisions.serviceRevisions?.find((r) => r.serviceRevisionArn === revision)?.taskDefinition ?? null)
        : null;
    return { serviceDeploymentArn: arn, from: taskDefinitionOf(source), to: taskDefinitionOf(target) };
  }
}
