import type { HistoryEvent } from '@aws-sdk/client-sfn';
import type { ExecutionRecord } from '../../local/engine';

/**
 * A local execution as `GetExecutionHistory` would return it (oldest first), in the event shapes
 * of the Step Functions API reference (HistoryEvent: id, previousEventId, timestamp, type and the
 * one `*EventDetails` member of its type). Lambda steps as the optimized `lambda:invoke`
 * integration reports them: TaskScheduled, TaskStarted, TaskSucceeded or TaskFailed.
 */
export function awsHistoryOf(record: ExecutionRecord, region = 'eu-west-1'): HistoryEvent[] {
  const out: HistoryEvent[] = [];
  const push = (at: number, e: Omit<HistoryEvent, 'id' | 'previousEventId' | 'timestamp'>) =>
    out.push({
      id: out.length + 1,
      previousEventId: out.length,
      timestamp: new Date(at),
      ...e,
    } as HistoryEvent);
  const task = { resourceType: 'lambda', resource: 'invoke' };
  for (const event of record.events) {
    switch (event.type) {
      case 'ExecutionStarted':
        push(event.timestamp, {
          type: 'ExecutionStarted',
          executionStartedEventDetails: {
            input: JSON.stringify(record.input),
            roleArn: 'arn:aws:iam::123456789012:role/switchback-sfn',
          },
        });
        break;
      case 'StateEntered':
        push(event.timestamp, {
          type: `${event.state.type}StateEntered` as HistoryEvent['type'],
          stateEnteredEventDetails: { name: event.state.name, input: JSON.stringify(event.state.input) },
        });
        if (event.state.type === 'Task') {
          push(event.timestamp, {
            type: 'TaskScheduled',
            taskScheduledEventDetails: { ...task, region, parameters: '{}' },
          });
          push(event.timestamp, { type: 'TaskStarted', taskStartedEventDetails: task });
        }
        break;
      case 'StateFailed':
        if (event.state.type === 'Task')
          push(event.timestamp, {
            type: 'TaskFailed',
            taskFailedEventDetails: { ...task, error: event.Error, cause: String(event.Cause ?? '') },
          });
        break;
      case 'StateRetried':
        push(event.timestamp, {
          type: 'TaskScheduled',
          taskScheduledEventDetails: { ...task, region, parameters: '{}' },
        });
        break;
      case 'StateExited': {
        const step = record.steps.find((s) => s.state === event.state.name && s.startedAt <= event.timestamp);
        // A caught failure goes on to the next state without an exit event.
        if (step?.outcome === 'caught' && out.at(-1)?.type === 'TaskFailed') break;
        if (event.state.type === 'Task')
          push(event.timestamp, {
            type: 'TaskSucceeded',
            taskSucceededEventDetails: { ...task, output: JSON.stringify(event.state.output) },
          });
        push(event.timestamp, {
          type: `${event.state.type}StateExited` as HistoryEvent['type'],
          stateExitedEventDetails: { name: event.state.name, output: JSON.stringify(event.state.output) },
        });
        break;
      }
      case 'ExecutionFailed':
        push(event.timestamp, {
          type: 'ExecutionFailed',
          executionFailedEventDetails: { error: event.Error, cause: String(event.Cause ?? '') },
        });
        break;
      case 'ExecutionSucceeded':
        push(event.timestamp, {
          type: 'ExecutionSucceeded',
          executionSucceededEventDetails: { output: JSON.stringify(event.output) },
        });
        break;
    }
  }
  return out;
}
