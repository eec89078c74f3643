/**
 * The data task (`tasks/data/`, on Fargate) as procedures run it: one `ecs:runTask.sync` with its
 * command, then the step that reads the result object the task wrote. A failed task is reported
 * by that result under its own error name, so both paths of the task go there.
 */
import { type Catcher, ecsRunTask, type JsonObject, lambda, onError, type States } from './asl';

/** A data task may dump or restore for hours; far below the procedures' own timeouts. */
const DATA_TASK_TIMEOUT = 21600;
/** Reading a task's result object is quick. */
const RESULT_TIMEOUT = 30;

/** A container environment variable: a JSONPath value is resolved from the state input. */
export const env = (name: string, value: string): JsonObject => ({
  Name: name,
  [value.startsWith('$') ? 'Value.$' : 'Value']: value,
});

export function dataTask(
  name: string,
  result: string,
  o: {
    readonly comment: string;
    /** `SB_COMMAND`: backup, verify, check, restore, inspect... */
    readonly command: string;
    /** JSONPath of the backup id the task works on. */
    readonly backupId: string;
    /** The request's result key (`$.request.resultKeys.<key>`). */
    readonly key: string;
    readonly extraEnv?: readonly JsonObject[];
    readonly resultComment: string;
    readonly resultPath: string;
    readonly catch: readonly Catcher[];
    readonly next: string;
  },
): States {
  return {
    [name]: ecsRunTask({
      comment: o.comment,
      parameters: {
        Cluster: '${DataTaskClusterArn}',
        TaskDefinition: '${DataTaskDefinitionArn}',
        LaunchType: 'FARGATE',
        NetworkConfiguration: {
          AwsvpcConfiguration: {
            'Subnets.$': '$.request.network.subnets',
            'SecurityGroups.$': '$.request.network.securityGroups',
            'AssignPublicIp.$': '$.request.network.assignPublicIp',
          },
        },
        Overrides: {
          ContainerOverrides: [
            {
              Name: 'data-task',
              Environment: [
                env('SB_COMMAND', o.command),
                env('SB_STORE', '$.request.store'),
                env('SB_DATABASE', '$.request.database'),
                env('SB_BACKUP_ID', o.backupId),
                env('SB_RESULT_KEY', `$.request.resultKeys.${o.key}`),
                ...(o.extraEnv ?? []),
              ],
            },
          ],
        },
      },
      resultPath: null,
      timeout: DATA_TASK_TIMEOUT,
      catch: [onError(result, { resultPath: '$.taskFailure' })],
      next: result,
    }),
    [result]: lambda('data-result', {
      comment: o.resultComment,
      parameters: { 'resultKey.$': `$.request.resultKeys.${o.key}` },
      timeout: RESULT_TIMEOUT,
      resultPath: o.resultPath,
      catch: o.catch,
      next: o.next,
    }),
  };
}
