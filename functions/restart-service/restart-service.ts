import { z } from 'zod';
import { defineStep } from '../shared/step';

const Input = z.strictObject({
  service: z.enum(['api', 'sidecar']),
  /** Roll to this task definition (a rollback restores the recorded one); default: keep the current one. */
  taskDefinition: z.string().min(1).nullish(),
});

/**
 * Starts a new deployment of the service so its tasks restart and read the flags afresh
 * (ECS: UpdateService with forceNewDeployment). Returns the deployment to watch.
 */
export const restartService = defineStep({
  name: 'restart-service',
  input: Input,
  async run(input, { services, log, clock }) {
    const { deploymentId, taskDefinition } = await services.redeploy(
      input.service,
      input.taskDefinition ?? undefined,
    );
    log.info('service redeploying', { service: input.service, deploymentId, taskDefinition });
    return { service: input.service, deploymentId, taskDefinition, startedAt: clock.now().toISOString() };
  },
});
