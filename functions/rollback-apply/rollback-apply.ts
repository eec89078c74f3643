import { z } from 'zod';
import { ConfigurationError } from '../shared/errors';
import { journalOwn } from '../shared/journal';
import type { ServiceKey } from '../shared/ports';
import { defineStep } from '../shared/step';

const Service = z.enum(['api', 'sidecar']);

const Apply = z.strictObject({
  action: z.literal('apply'),
  kind: z.enum(['code', 'config']),
  apply: z.strictObject({
    deployments: z.array(
      z.strictObject({
        service: Service,
        action: z.enum(['stop-deployment', 'update-service']),
        deploymentId: z.string().min(1).nullable(),
        to: z.string().min(1),
      }),
    ),
    parameters: z.array(z.strictObject({ key: z.string().min(1), name: z.string().min(1), to: z.string() })),
    restart: z.array(Service),
  }),
});

const Record = z.strictObject({
  action: z.literal('record'),
  procedure: z.enum(['code-rollback', 'config-rollback']),
  kind: z.enum(['code', 'config']),
  executionName: z.string().min(1),
  requestedBy: z.string().min(1),
  /** The applied changes, as `apply` returned them. */
  applied: z.strictObject({
    deployments: z.array(
      z.strictObject({ service: Service, deploymentId: z.string(), taskDefinition: z.string() }),
    ),
    parameters: z.array(
      z.strictObject({
        key: z.string(),
        name: z.string(),
        from: z.string().nullable(),
        to: z.string(),
        version: z.number(),
      }),
    ),
  }),
});

export interface Applied {
  /** The deployment each service now waits on (a rollback deployment, or a restart to read a restored value). */
  readonly deployments: readonly { service: ServiceKey; deploymentId: string; taskDefinition: string }[];
  readonly parameters: readonly {
    key: string;
    name: string;
    from: string | null;
    to: string;
    version: number;
  }[];
}

/**
 * Applies a rollback plan (rollback-plan), and records it once verified. `apply`: each watched
 * value put back by value (a new version; history intact), then each deployment stopped with
 * ROLLBACK or each service updated to its last known good task definition, then the readers
 * that read at start restarted. `record`: the verified rollback as a journal entry of its own.
 */
export const rollbackApply = defineStep({
  name: 'rollback-apply',
  input: z.discriminatedUnion('action', [Apply, Record]),
  async run(input, deps): Promise<Applied | { recorded: true }> {
    if (input.action === 'record') {
      await journalOwn(deps, {
        at: deps.clock.now().toISOString(),
        sourceEventId: `${input.executionName}:completed`,
        kind: input.kind,
        subject: `procedure:${input.procedure}`,
        actor: input.requestedBy,
        change: {
          type: 'procedure',
          procedure: input.procedure,
          changeId: input.executionName,
          status: 'completed',
          flags: input.applied.parameters.map((p) => ({ name: p.key, from: p.from, to: p.to })),
          taskDefinition: input.applied.deployments.find((d) => d.service === 'api')?.taskDefinition ?? null,
        },
      });
      return { recorded: true };
    }
    const parameters: Applied['parameters'][number][] = [];
    if (input.apply.parameters.length) {
      const store = deps.watched;
      if (!store) throw new ConfigurationError('config-rollback needs the watched parameter store');
      for (const p of input.apply.parameters) {
        const before = await store.get(p.name);
        const { version } = await store.put(p.name, p.to);
        parameters.push({ key: p.key, name: p.name, from: before?.value ?? null, to: p.to, version });
        deps.log.info('watched parameter restored', { parameter: p.name, version });
      }
    }
    const deployments: Applied['deployments'][number][] = [];
    for (const d of input.apply.deployments) {
      const out =
        d.action === 'stop-deployment' && d.deploymentId
          ? await deps.services.stopDeployment(d.service, d.deploymentId)
          : await deps.services.redeploy(d.service, d.to);
      deployments.push({ service: d.service, ...out });
      deps.log.info('service rolled back', {
        service: d.service,
        action: d.action,
        taskDefinition: out.taskDefinition,
      });
    }
    for (const service of input.apply.restart) {
      if (deployments.some((d) => d.service === service)) continue;
      const out = await deps.services.redeploy(service);
      deployments.push({ service, ...out });
      deps.log.info('service restarted to read restored values', { service });
    }
    return { deployments, parameters };
  },
});
