import { describe, expect, it } from 'vitest';
import { TaskTokens } from '../../local/adapters/task-tokens';

describe('local task tokens (SendTaskSuccess / SendTaskFailure)', () => {
  const EXEC = 'arn:aws:states:local-1:000000000000:execution:m:e1';

  it('a waiting task resumes with the output sent for its token, once', async () => {
    const tokens = new TaskTokens();
    const token = tokens.issue(EXEC);
    const answer = tokens.wait(token, EXEC, 'AwaitApproval');
    expect(tokens.pending().map((p) => [p.executionArn, p.state])).toEqual([[EXEC, 'AwaitApproval']]);
    tokens.succeed(token, { approvedBy: 'alice' });
    await expect(answer).resolves.toEqual({ approvedBy: 'alice' });
    expect(tokens.pending()).toEqual([]);
    expect(() => tokens.succeed(token, {})).toThrow(expect.objectContaining({ name: 'TaskTimedOut' }));
  });

  it('a failure sent for a token fails the task with that error name (what its Catch matches)', async () => {
    const tokens = new TaskTokens();
    const token = tokens.issue(EXEC);
    const answer = tokens.wait(token, EXEC, 'AwaitApproval');
    tokens.fail(token, 'ApprovalRejectedError', 'not today');
    await expect(answer).rejects.toMatchObject({ name: 'ApprovalRejectedError', message: 'not today' });
  });

  it('answers like AWS for tokens it does not know, that are not waiting yet, or whose task stopped waiting', () => {
    const tokens = new TaskTokens();
    expect(() => tokens.succeed('forged', {})).toThrow(expect.objectContaining({ name: 'InvalidToken' }));
    const token = tokens.issue(EXEC);
    expect(() => tokens.succeed(token, {})).toThrow(expect.objectContaining({ name: 'TaskDoesNotExist' }));
    void tokens.wait(token, EXEC, 'AwaitApproval');
    tokens.expire(EXEC, 'AwaitApproval');
    expect(() => tokens.fail(token, 'X')).toThrow(expect.objectContaining({ name: 'TaskTimedOut' }));
    expect(() => tokens.wait(tokens.issue(EXEC), `${EXEC}-other`, 'S')).toThrow(/was not issued to/);
  });
});
