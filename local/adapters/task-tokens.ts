import { randomBytes } from 'node:crypto';

interface Waiter {
  readonly executionArn: string;
  readonly state: string;
  readonly since: number;
  resolve(output: unknown): void;
  reject(error: Error): void;
}

function named(name: string, message: string): Error {
  return Object.assign(new Error(message), { name });
}

/**
 * Step Functions' callback pattern for the local engine: a task token per `.waitForTaskToken`
 * task, and SendTaskSuccess / SendTaskFailure to resume it. `$$.Task.Token` reads `issue`; the
 * task then waits on `wait` until a test, the rehearsal or a CLI-like caller answers. The task's
 * timeout is the state's own (`TimeoutSeconds`/`TimeoutSecondsPath`, enforced by the engine);
 * a token whose task timed out or whose execution ended answers like AWS (`TaskTimedOut`).
 */
export class TaskTokens {
  private readonly issued = new Map<string, string>();
  private readonly waiting = new Map<string, Waiter>();
  private readonly closed = new Set<string>();

  /** A fresh token for a task of this execution. */
  issue(executionArn: string): string {
    const token = `local-task-token-${randomBytes(24).toString('base64url')}`;
    this.issued.set(token, executionArn);
    return token;
  }

  isIssued(token: string): boolean {
    return this.issued.has(token);
  }

  /** Waits for the answer to `token` (the task's result, or its failure). */
  wait(token: string, executionArn: string, state: string): Promise<unknown> {
    if (this.issued.get(token) !== executionArn)
      throw named('States.Runtime', `Task token was not issued to ${executionArn}`);
    return new Promise((resolve, reject) => {
      this.waiting.set(token, { executionArn, state, since: Date.now(), resolve, reject });
    });
  }

  /** Tasks waiting for an answer, oldest first. */
  pending(): { token: string; executionArn: string; state: string; since: number }[] {
    return [...this.waiting.entries()]
      .map(([token, w]) => ({ token, executionArn: w.executionArn, state: w.state, since: w.since }))
      .sort((a, b) => a.since - b.since);
  }

  /** SendTaskSuccess. */
  succeed(token: string, output: unknown): void {
    this.take(token).resolve(output);
  }

  /** SendTaskFailure: the task fails with `error` (what the state's Catch matches on). */
  fail(token: string, error: string, cause = ''): void {
    this.take(token).reject(named(error, cause));
  }

  /** The task stopped waiting (timed out, failed, or its execution ended): its token is dead. */
  expire(executionArn: string, state?: string): void {
    for (const [token, w] of this.waiting) {
      if (w.executionArn === executionArn && (state === undefined || w.state === state)) {
        this.waiting.delete(token);
        this.closed.add(token);
      }
    }
  }

  private take(token: string): Waiter {
    const waiter = this.waiting.get(token);
    if (waiter) {
      this.waiting.delete(token);
      this.closed.add(token);
      return waiter;
    }
    if (this.closed.has(token)) throw named('TaskTimedOut', 'Task Timed Out: the task is no longer waiting');
    if (this.issued.has(token)) throw named('TaskDoesNotExist', 'Task does not exist (not waiting yet)');
    throw named('InvalidToken', 'Invalid token');
  }
}
