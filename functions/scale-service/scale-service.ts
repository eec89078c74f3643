import { z } from 'zod';
import { defineStep } from '../shared/step';

const Input = z.strictObject({
  /** Services to scale, in order. */
  services: z.array(z.enum(['api', 'sidecar'])).min(1),
  /** 0 stops the writers; otherwise the count to run (a restore puts back what it recorded). */
  desiredCount: z.number().int().min(0).max(100),
});

/**
 * Stops (scales to 0) or starts the services that write to a data store. Returns, per service, the
 * deployment to watch and the count it had before, so the procedure can put it back.
 */
export const scaleService = defineStep({
  name: 'scale-service',
  input: Input,
  async run(input, { services, log }) {
    const scaled: {
      service: string;
      deploymentId: string;
      previousDesiredCount: number;
      desiredCount: number;
    }[] = [];
    for (const service of input.services) {
      const { deploymentId, previousDesiredCount } = await services.scale(service, input.desiredCount);
      log.info('service scaled', { service, from: previousDesiredCount, to: input.desiredCount });
      scaled.push({ service, deploymentId, previousDesiredCount, desiredCount: input.desiredCount });
    }
    return { services: scaled, first: scaled[0] };
  },
});
