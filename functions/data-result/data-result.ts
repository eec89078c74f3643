import { z } from 'zod';
import { RESULT_KEY, resultKeyOf } from '../../tasks/data/task';
import { DataTaskFailedError, ERROR_CLASSES, type SwitchbackError } from '../shared/errors';
import { defineStep } from '../shared/step';

const Input = z.strictObject({
  resultKey: z.string().max(300).regex(RESULT_KEY, 'path segments of letters, digits, ".", ":", "-" and "_"'),
});

const TaskResult = z.discriminatedUnion('ok', [
  z.object({ ok: z.literal(true), output: z.unknown(), finishedAt: z.string() }),
  z.object({
    ok: z.literal(false),
    error: z.object({ name: z.string(), message: z.string() }),
    finishedAt: z.string(),
  }),
]);

/**
 * Reads what a data task (ECS) recorded and returns its output, or throws its error under the
 * error's own name, so the state machine's Catch can tell a corrupt backup from a failed restore.
 * The state machine comes here after the task whether it exited 0 or not.
 */
export const dataResult = defineStep({
  name: 'data-result',
  input: Input,
  async run(input, { blobs, config }) {
    const key = resultKeyOf(config.environment, input.resultKey);
    const body = await blobs.get(key);
    if (!body)
      throw new DataTaskFailedError(`The data task recorded no result at ${key}; see its log stream`);
    const parsed = TaskResult.safeParse(JSON.parse(new TextDecoder().decode(body)));
    if (!parsed.success) throw new DataTaskFailedError(`The data task's result at ${key} is malformed`);
    if (parsed.data.ok) return parsed.data.output;
    const { name, message } = parsed.data.error;
    const Named = (ERROR_CLASSES as Record<string, new (m: string) => SwitchbackError>)[name];
    throw Named ? new Named(message) : new DataTaskFailedError(`${name}: ${message}`);
  },
});
