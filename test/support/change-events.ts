/**
 * The two AWS event shapes the change journal reads, as AWS documents them (the Amazon ECS
 * Developer Guide's "service deployment state change events" and the Systems Manager User Guide's
 * EventBridge event examples for Parameter Store), with the values a test needs swapped in.
 */

const ACCOUNT = '111122223333';
const REGION = 'eu-west-1';

export function ecsDeploymentEvent(o: {
  id: string;
  time: string;
  cluster: string;
  service: string;
  eventName?: 'SERVICE_DEPLOYMENT_IN_PROGRESS' | 'SERVICE_DEPLOYMENT_COMPLETED' | 'SERVICE_DEPLOYMENT_FAILED';
  deploymentId: string;
  reason?: string;
}) {
  const eventName = o.eventName ?? 'SERVICE_DEPLOYMENT_IN_PROGRESS';
  return {
    version: '0',
    id: o.id,
    'detail-type': 'ECS Deployment State Change',
    source: 'aws.ecs',
    account: ACCOUNT,
    time: o.time,
    region: REGION,
    resources: [`arn:aws:ecs:${REGION}:${ACCOUNT}:service/${o.cluster}/${o.service}`],
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

export function parameterStoreEvent(o: {
  id: string;
  time: string;
  name: string;
  operation?: 'Create' | 'Update' | 'Delete' | 'LabelParameterVersion';
  type?: 'String' | 'StringList' | 'SecureString';
}) {
  return {
    version: '0',
    id: o.id,
    'detail-type': 'Parameter Store Change',
    source: 'aws.ssm',
    account: ACCOUNT,
    time: o.time,
    region: REGION,
    resources: [`arn:aws:ssm:${REGION}:${ACCOUNT}:parameter${o.name.startsWith('/') ? '' : '/'}${o.name}`],
    detail: {
      operation: o.operation ?? 'Update',
      name: o.name,
      type: o.type ?? 'String',
      description: 'Sample Parameter',
    },
  };
}
