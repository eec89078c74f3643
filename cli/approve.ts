import {
  type HistoryEvent,
  ListExecutionsCommand,
  paginateGetExecutionHistory,
  SendTaskFailureCommand,
  SendTaskSuccessCommand,
} from '@aws-sdk/client-sfn';
import { GetParameterCommand } from '@aws-sdk/client-ssm';
import { type AwsClients, defaultClients, discovery } from './aws';

/** The state of `feature-rollout` that waits for an operator. */
export const APPROVAL_STATE = 'AwaitApproval';

export interface ApproveOptions {
  readonly env: string;
  /** The rollout execution; by default the one `feature-rollout` execution running in the environment. */
  readonly execution?: string;
  readonly reject?: boolean;
  readonly comment?: string;
  readonly by?: string;
  readonly write: (line: string) => void;
  readonly clients?: Pick<AwsClients, 'ssm' | 'sfn'>;
}

export interface PendingApproval {
  readonly taskToken: string;
  readonly phase: string | null;
  readonly rolloutId: string | null;
}

/**
 * The approval a rollout execution is waiting for, read from its history: the last time it
 * entered `AwaitApproval` without leaving it, the token its task was scheduled with. Undefined
 * when it is not waiting.
 */
export function pendingApproval(newestFirst: readonly HistoryEvent[]): PendingApproval | undefined {
  let scheduled: HistoryEvent | undefined;
  for (const e of newestFirst) {
    switch (e.type) {
      case 'TaskScheduled':
        if (
          !scheduled &&
          e.taskScheduledEventDetails?.resourceType === 'lambda' &&
          e.taskScheduledEventDetails.resource === 'invoke.waitForTaskToken'
        )
          scheduled = e;
        break;
      case 'TaskSucceeded':
      case 'TaskFailed':
      case 'TaskTimedOut':
        if (!scheduled) return undefined;
        break;
      case 'TaskStateExited':
        if (e.stateExitedEventDetails?.name === APPROVAL_STATE) return undefined;
        break;
      case 'TaskStateEntered':
        if (e.stateEnteredEventDetails?.name !== APPROVAL_STATE) break;
        if (!scheduled) return undefined;
        try {
          const parameters = JSON.parse(scheduled.taskScheduledEventDetails?.parameters ?? '{}') as {
            Payload?: { taskToken?: unknown; phase?: unknown; rolloutId?: unknown };
          };
          const token = parameters.Payload?.taskToken;
          if (typeof token !== 'string' || !token) return undefined;
          return {
            taskToken: token,
            phase: typeof parameters.Payload?.phase === 'string' ? parameters.Payload.phase : null,
            rolloutId:
              typeof parameters.Payload?.rolloutId === 'string' ? parameters.Payload.rolloutId : null,
          };
        } catch {
          return undefined;
        }
    }
  }
  return undefined;
}

/**
 * `switchback approve`: answers the approval a `feature-rollout` execution waits for between
 * phases (SendTaskSuccess; `--reject` sends SendTaskFailure with ApprovalRejectedError, which
 * rolls the rollout back). The task token is read from the execution's history, never printed.
 * Returns the process exit code.
 */
export async function approve(o: ApproveOptions): Promise<number> {
  const { ssm, sfn } = o.clients ?? defaultClients();
  let executionArn = o.execution;
  if (!executionArn) {
    const name = discovery(o.env).procedure('feature-rollout');
    const stateMachineArn = (await ssm.send(new GetParameterCommand({ Name: name }))).Parameter?.Value;
    if (!stateMachineArn) throw new Error(`Parameter ${name} is empty: is the Switchback stack deployed?`);
    const running = await sfn.send(new ListExecutionsCommand({ stateMachineArn, statusFilter: 'RUNNING' }));
    const arns = (running.executions ?? []).map((e) => e.executionArn).filter((a): a is string => !!a);
    if (arns.length !== 1) {
      o.write(
        arns.length
          ? `${arns.length} feature rollouts are running in ${o.env}; name one with --execution:\n  ${arns.join('\n  ')}`
          : `No feature rollout is running in ${o.env}.`,
      );
      return 1;
    }
    executionArn = arns[0] as string;
  }

  const events: HistoryEvent[] = [];
  let pending: PendingApproval | undefined;
  for await (const page of paginateGetExecutionHistory(
    { client: sfn, pageSize: 200 },
    { executionArn, reverseOrder: true },
  )) {
    events.push(...(page.events ?? []));
    pending = pendingApproval(events);
    // The approval state is near the end of the history: stop as soon as it is decided.
    if (pending || events.some((e) => e.stateEnteredEventDetails?.name === APPROVAL_STATE)) break;
  }
  if (!pending) {
    o.write(`${executionArn} is not waiting for an approval.`);
    return 1;
  }

  const what = `phase ${pending.phase ?? '?'} of rollout ${pending.rolloutId ?? executionArn}`;
  if (o.reject) {
    await sfn.send(
      new SendTaskFailureCommand({
        taskToken: pending.taskToken,
        error: 'ApprovalRejectedError',
        cause: `Rejected by ${o.by ?? 'an operator'}${o.comment ? `: ${o.comment}` : ''}`.slice(0, 32_768),
      }),
    );
    o.write(`Rejected ${what}: the rollout rolls back (feature disabled).`);
    return 0;
  }
  await sfn.send(
    new SendTaskSuccessCommand({
      taskToken: pending.taskToken,
      output: JSON.stringify({
        approvedBy: o.by ?? 'operator',
        ...(o.comment ? { comment: o.comment } : {}),
      }),
    }),
  );
  o.write(`Approved ${what}: it starts now.`);
  return 0;
}
