/**
 * Lock janitor: started by EventBridge when a cutover or rollback execution ends FAILED,
 * TIMED_OUT or ABORTED; releases the lock it leaked, never one held on purpose for an operator.
 */
import { dynamodb, onError, snsPublish, states, succeed } from './asl';
import type { Source } from './budget';

export default {
  Comment:
    'Lock janitor: started by EventBridge when a cutover or rollback execution ends FAILED, TIMED_OUT or ABORTED.',
  StartAt: 'ReleaseLeakedLock',
  States: states({
    // Not releaseLock(): the owner is the stopped execution from the event, and status must be 'held'.
    ReleaseLeakedLock: dynamodb('deleteItem', {
      comment:
        'Deletes the lock only if the execution that just FAILED, TIMED_OUT or was ABORTED owns it and it is not held on purpose for an operator.',
      parameters: {
        TableName: '${LockTableName}',
        Key: { pk: { S: '${Environment}' } },
        ConditionExpression: '#owner = :owner AND #status = :held',
        ExpressionAttributeNames: { '#owner': 'owner', '#status': 'status' },
        ExpressionAttributeValues: { ':owner': { 'S.$': '$.detail.executionArn' }, ':held': { S: 'held' } },
        ReturnValues: 'ALL_OLD',
      },
      resultSelector: { 'procedure.$': '$.Attributes.procedure.S', 'owner.$': '$.Attributes.owner.S' },
      resultPath: '$.released',
      catch: [
        onError('NothingToRelease', {
          errors: ['DynamoDB.ConditionalCheckFailedException'],
          resultPath: null,
        }),
      ],
      next: 'NotifyReleased',
    }),
    // Not notifyAndEnd's Notify: no notice to publish, the message is formatted from the event.
    NotifyReleased: snsPublish({
      comment: 'Tells the team a stopped execution left the lock and it was released; the flags need a look.',
      parameters: {
        TopicArn: '${NotificationTopicArn}',
        Subject: 'Switchback: released a lock left by a stopped execution',
        'Message.$':
          "States.Format('Execution {} ended {} while holding the ${Environment} lock ({}). The lock was released. Check the flags and the change record before the next change.', $.detail.executionArn, $.detail.status, $.released.procedure)",
        MessageAttributes: {
          outcome: { DataType: 'String', StringValue: 'lock-released' },
          environment: { DataType: 'String', StringValue: '${Environment}' },
        },
      },
      resultPath: null,
      end: true,
    }),
    NothingToRelease: succeed({
      comment:
        'The execution did not hold the lock, released it itself, or holds it on purpose (needs-operator).',
    }),
  }),
} satisfies Source;
