import { ArnFormat, Stack } from 'aws-cdk-lib';
import { CfnAlarm } from 'aws-cdk-lib/aws-cloudwatch';
import { CfnRule } from 'aws-cdk-lib/aws-events';
import { PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Topic, type TopicPolicy } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct, type IConstruct } from 'constructs';
import { KEY_DEFAULTS } from './defaults';

const ALARM_PUBLISHER = 'cloudwatch.amazonaws.com';

export interface NotificationsProps {
  /** Environment name, for the topic's display name. */
  readonly environment: string;
  /**
   * Addresses subscribed by email (each confirms by mail before it receives anything).
   * @default - none
   */
  readonly emails?: readonly string[];
}

/**
 * The topic every procedure reports to and every procedure alarm notifies: SSE with a rotating
 * customer managed key, publishing only over TLS, with email subscriptions from the stage.
 *
 * CloudWatch alarms of this account may publish (the topic policy) and use the key (the key
 * policy: an alarm cannot publish to an encrypted topic otherwise), both only for alarms of this
 * account and region (`aws:SourceAccount`, `aws:SourceArn`). Step Functions publishes with its
 * execution role, which the Procedure construct grants `sns:Publish` and the key.
 *
 * A synth-time check refuses a stack in which a resource that publishes through a service
 * principal (an alarm action, an EventBridge rule target) names the topic while the topic policy
 * does not allow that service: such a deploy succeeds and every notification is dropped.
 */
export class Notifications extends Construct {
  public readonly topic: Topic;
  public readonly key: Key;

  constructor(scope: Construct, id: string, props: NotificationsProps) {
    super(scope, id);
    const emails = props.emails ?? [];
    const dup = emails.find((e, i) => emails.indexOf(e) !== i);
    if (dup) throw new Error(`Notifications: ${dup} is subscribed twice`);

    this.key = new Key(this, 'Key', {
      ...KEY_DEFAULTS,
      description: `Switchback ${props.environment} notifications (SNS SSE)`,
    });
    const stack = Stack.of(this);
    const fromAlarmsOfThisAccount = {
      StringEquals: { 'aws:SourceAccount': stack.account },
      ArnLike: {
        'aws:SourceArn': stack.formatArn({
          service: 'cloudwatch',
          resource: 'alarm',
          resourceName: '*',
          arnFormat: ArnFormat.COLON_RESOURCE_NAME,
        }),
      },
    };
    this.key.addToResourcePolicy(
      new PolicyStatement({
        sid: 'AllowCloudWatchAlarmsOfThisAccount',
        principals: [new ServicePrincipal(ALARM_PUBLISHER)],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
        resources: ['*'],
        conditions: fromAlarmsOfThisAccount,
      }),
    );

    this.topic = new Topic(this, 'Topic', {
      displayName: `Switchback ${props.environment}`,
      masterKey: this.key,
      enforceSSL: true,
    });
    for (const email of emails) this.topic.addSubscription(new EmailSubscription(email));
    this.topic.addToResourcePolicy(
      new PolicyStatement({
        sid: 'AllowCloudWatchAlarmsOfThisAccount',
        principals: [new ServicePrincipal(ALARM_PUBLISHER)],
        actions: ['sns:Publish'],
        resources: [this.topic.topicArn],
        conditions: fromAlarmsOfThisAccount,
      }),
    );
    this.node.addValidation({ validate: () => this.unallowedPublishers() });
  }

  /** Resources that publish to the topic through a service the topic policy does not allow. */
  private unallowedPublishers(): string[] {
    const stack = Stack.of(this);
    const topic = JSON.stringify(stack.resolve(this.topic.topicArn));
    const policy = this.topic.node.tryFindChild('Policy') as TopicPolicy | undefined;
    const allowed = JSON.stringify(policy ? stack.resolve(policy.document.toJSON()) : {});
    const problems: string[] = [];
    for (const resource of stack.node.findAll()) {
      const publisher = publisherOf(resource);
      if (!publisher) continue;
      const targets = publisher.targets.map((t) => JSON.stringify(t));
      if (!targets.includes(topic)) continue;
      if (!allowed.includes(`"Service":"${publisher.service}"`)) {
        problems.push(
          `${resource.node.path} publishes to the notification topic through ${publisher.service}, which the topic policy does not allow: its notifications would be dropped`,
        );
      }
    }
    return problems;
  }
}

/** What publishes to topics as a service principal: alarm actions and EventBridge rule targets. */
function publisherOf(resource: IConstruct): { service: string; targets: unknown[] } | undefined {
  const stack = Stack.of(resource);
  if (resource instanceof CfnAlarm) {
    const lists = [resource.alarmActions, resource.okActions, resource.insufficientDataActions];
    return {
      service: ALARM_PUBLISHER,
      targets: lists.flatMap((l) => (stack.resolve(l) as unknown[] | undefined) ?? []),
    };
  }
  if (resource instanceof CfnRule) {
    const targets = stack.resolve(resource.targets) as { arn: unknown }[] | undefined;
    return { service: 'events.amazonaws.com', targets: (targets ?? []).map((t) => t.arn) };
  }
  return undefined;
}
