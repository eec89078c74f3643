import { ArnFormat, Stack } from 'aws-cdk-lib';
import { PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import { KEY_DEFAULTS } from './defaults';

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
 * The key policy lets CloudWatch alarms of this account use the key (an alarm action cannot
 * publish to an encrypted topic otherwise). Step Functions publishes with its execution role,
 * which the Procedure construct grants `kms:GenerateDataKey`/`kms:Decrypt` on this key.
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
    this.key.addToResourcePolicy(
      new PolicyStatement({
        sid: 'AllowCloudWatchAlarmsOfThisAccount',
        principals: [new ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
        resources: ['*'],
        conditions: {
          StringEquals: { 'aws:SourceAccount': stack.account },
          ArnLike: {
            'aws:SourceArn': stack.formatArn({
              service: 'cloudwatch',
              resource: 'alarm',
              resourceName: '*',
              arnFormat: ArnFormat.COLON_RESOURCE_NAME,
            }),
          },
        },
      }),
    );

    this.topic = new Topic(this, 'Topic', {
      displayName: `Switchback ${props.environment}`,
      masterKey: this.key,
      enforceSSL: true,
    });
    for (const email of emails) this.topic.addSubscription(new EmailSubscription(email));
  }
}
