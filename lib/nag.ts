import { Stack, Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/**
 * cdk-nag acknowledgements in one place: every one names the narrowest finding (`Rule[finding]`)
 * and carries a reason; an empty reason is refused at synth.
 */
export function acknowledge(scope: IConstruct, id: string, reason: string): void {
  if (reason.trim().length < 20)
    throw new Error(`cdk-nag acknowledgement ${id} at ${scope.node.path} needs a reason`);
  Validations.of(scope).acknowledge({ id, reason });
}

/**
 * Acknowledges AwsSolutions-IAM5 for exactly one wildcard resource, given as the token or string
 * used in the policy statement (cdk-nag names the finding after the flattened CloudFormation value,
 * e.g. `Resource::<BucketAB12.Arn>/change-records/prod/*`).
 */
export function acknowledgeWildcardResource(scope: IConstruct, resource: string, reason: string): void {
  acknowledge(
    scope,
    `AwsSolutions-IAM5[Resource::${flattenForNag(Stack.of(scope).resolve(resource))}]`,
    reason,
  );
}

/** Same flattening cdk-nag applies to a resolved CloudFormation value before naming a finding. */
export function flattenForNag(node: unknown): string {
  if (node === undefined) return '';
  if (typeof node === 'string') return node.replace(/\$\{/g, '<').replace(/}/g, '>');
  if (typeof node === 'object' && node !== null) {
    const o = node as Record<string, unknown>;
    if (Array.isArray(o['Fn::Join'])) {
      const [delimiter, items] = o['Fn::Join'] as [string, unknown[]];
      return items.map(flattenForNag).join(delimiter);
    }
    if (o['Fn::Sub'] !== undefined) return flattenForNag(o['Fn::Sub']);
    if (Array.isArray(o['Fn::GetAtt'])) {
      const [res, attr] = o['Fn::GetAtt'] as [unknown, unknown];
      return `<${flattenForNag(res)}.${flattenForNag(attr)}>`;
    }
    if (o['Fn::ImportValue'] !== undefined) return flattenForNag(o['Fn::ImportValue']);
    if (o.Ref !== undefined) return `<${flattenForNag(o.Ref)}>`;
  }
  return JSON.stringify(node);
}

/** Why some actions can only ever be granted on `*` (AWS offers no resource-level permissions). */
export const STAR_ONLY_REASONS = {
  xray: 'X-Ray tracing: xray:PutTraceSegments, PutTelemetryRecords, GetSamplingRules and GetSamplingTargets support only Resource "*".',
  logDelivery:
    'Step Functions vended-log delivery: logs:CreateLogDelivery, GetLogDelivery, UpdateLogDelivery, DeleteLogDelivery, ListLogDeliveries, PutResourcePolicy, DescribeResourcePolicies and DescribeLogGroups support only Resource "*".',
  metrics:
    'CloudWatch metrics: cloudwatch:PutMetricData supports only Resource "*"; the grant is limited to one namespace by a cloudwatch:namespace condition.',
  metricsRead:
    'CloudWatch metric reads: cloudwatch:GetMetricData supports only Resource "*" (it reads the metrics named in the request; the rollout gate names only those of its stage).',
  vpcEni:
    'Lambda in a VPC: ec2:CreateNetworkInterface, DescribeNetworkInterfaces, DescribeSubnets, DeleteNetworkInterface, AssignPrivateIpAddresses and UnassignPrivateIpAddresses are required on "*" (as in AWSLambdaVPCAccessExecutionRole; the ENIs do not exist before the function).',
} as const;
