import { z } from 'zod';
import { requireLog, withEvent, writeLog } from '../rollout/log';
import { PhaseName } from '../shared/rollout-plan';
import { defineStep } from '../shared/step';

const Input = z.strictObject({
  rolloutId: z.string().regex(/^[A-Za-z0-9_-]{1,80}$/),
  phase: PhaseName,
  index: z.number().int().min(0),
  timeoutSeconds: z.number().int().min(1),
  /**
   * The Step Functions task token the rollout waits on. It is a capability (whoever holds it and
   * may call SendTaskSuccess approves): it is never logged, returned or written anywhere.
   */
  taskToken: z.string().min(1).max(8192),
});

/**
 * Runs when a rollout starts waiting for approval before a phase (invoked with
 * `lambda:invoke.waitForTaskToken`): records the request in the rollout log. The rollout resumes
 * when an operator approves (`switchback approve`, SendTaskSuccess), and rolls back when they
 * reject it or the wait times out.
 */
export const requestApproval = defineStep({
  name: 'request-approval',
  input: Input,
  async run(input, { blobs, config, clock, log }) {
    const doc = await requireLog(blobs, config.environment, input.rolloutId);
    const at = clock.now();
    const expires = new Date(at.getTime() + input.timeoutSeconds * 1000).toISOString();
    const message = `Waiting for approval to start phase ${input.index + 1} (${input.phase}) until ${expires}: \`switchback approve --env ${config.environment}\` (or --reject); no answer rolls back.`;
    const pending = doc.events.some((e) => e.type === 'approval-requested' && e.phase === input.phase);
    if (!pending) {
      await writeLog(
        blobs,
        withEvent(doc, { at: at.toISOString(), type: 'approval-requested', phase: input.phase, message }),
      );
    }
    log.info('approval requested', { rolloutId: input.rolloutId, phase: input.phase, expires });
    return { requested: true, expires };
  },
});
