/**
 * The two AWS event shapes the change journal reads, as AWS documents them (the Amazon ECS
 * Developer Guide's "service deployment state change events" and the Systems Manager User Guide's
 * EventBridge event examples for Parameter Store). The rehearsal's world delivers its own changes
 * in these shapes to the journal step; the tests use them as fixtures.
 */

/** Where an event says it comes from; AWS's documentation account by default. */
interface Origin {
  account?: string;
  region?: string;
}

/** EventBridge's envelope of an AWS service event. */
function envelope(
  o: Origin & { id: string; time: string },
  source: string,
  detailType: string,
  resource: (region: string, account: string) => string,
) {
  const account = o.account ?? '111122223333';
  const region = o.region ?? 'eu-west-1';
  return {
    version: '0',
    id: o.id,
    'detail-type': detailType,
    source,
    account,
    time: o.time,
    region,
    resources: [resource(region, account)],
  };
}

export function ecsDeploymentEvent(
  o: Origin & {
    id: string;
    time: string;
    cluster: string;
    service: string;
    eventName?:
      | 'SERVICE_DEPLOYMENT_IN_PROGRESS'
      | 'SERVICE_DEPLOYMENT_COMPLETED'
      | 'SERVICE_DEPLOYMENT_FAILED';
    deploymentId: string;
    reason?: string;
  },
) {
  const eventName = o.eventName ?? 'SERVICE_DEPLOYMENT_IN_PROGRESS';
  return {
    ...envelope(
      o,
      'aws.ecs',
      'ECS Deployment State Change',
      (r, a) => `arn:aws:ecs:${r}:${a}:service/${o.cluster}/${o.service}`,
    ),
    detail: {
      eventType: eventName === 'SERVICE_DEPLOYMENT_FAILED' ? 'ERROR' : 'INFO',
      eventName,
      deploymentId: o.deploymentId,
      updatedAt: o.time,
      reason:
        o.reason ??
        (eventName === 'SERVICE_DEPLOYMENT_COMPLETED'
          ? `ECS deployment ${o.deploymentId} completed.`
          : eventName === 'SERVICE_DEPLOYMENT_FAILED'
            ? 'ECS deployment circuit breaker: task failed to start.'
            : `ECS deployment ${o.deploymentId} in progress.`),
    },
  };
}

export function parameterStoreEvent(
  o: Origin & {
    id: string;
    time: string;
    name: string;
    operation?: 'Create' | 'Update' | 'Delete' | 'LabelParameterVersion';
    type?: 'String' | 'StringList' | 'SecureString';
  },
) {
  return {
    ...envelope(
      o,
      'aws.ssm',
      'Parameter Store Change',
      (r, a) => `arn:aws:ssm:${r}:${a}:parameter${o.name.startsWith('/') ? '' : '/'}${o.name}`,
    ),
    detail: {
      operation: o.operation ?? 'Update',
      name: o.name,
      type: o.type ?? 'String',
      description: 'Sample Parameter',
    },
  };
}
