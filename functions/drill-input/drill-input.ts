import { z } from 'zod';
import { alarmName, catalogOf } from '../shared/alarm-catalog';
import { parseOrThrow } from '../shared/config';
import { DRILL_MARKER_KEY, DrillKind, drillMarkerName } from '../shared/drill-config';
import { DrillRefusedError, InvalidInputError } from '../shared/errors';
import { Reason, RequestedBy, requestTiming, withoutStartedBy } from '../shared/inputs';
import { defineStep } from '../shared/step';

/** Execution input of `drill` (from the schedule, the console or the CLI). Unknown fields are refused. */
export const DrillInput = z.strictObject({
  kind: DrillKind,
  reason: Reason.default('Scheduled rollback drill'),
  requestedBy: RequestedBy.optional(),
});

const Input = z.object({
  procedure: z.literal('drill'),
  executionId: z.string().min(1),
  executionName: z.string().regex(/^[A-Za-z0-9_-]{1,80}$/, 'letters, digits, "-" and "_": the drill id'),
  input: z.unknown(),
});

export interface DrillRequest {
  readonly procedure: 'drill';
  readonly environment: string;
  readonly drillId: string;
  readonly kind: 'config';
  readonly reason: string;
  readonly requestedBy: string;
  /** The rollback alarm the drill puts into ALARM, by full name. */
  readonly alarmName: string;
  readonly marker: { readonly key: string; readonly name: string };
  readonly pollSeconds: number;
  readonly polls: number;
  readonly timing: { readonly stabilityPollSeconds: number; readonly stabilityMaxAttempts: number };
  readonly startedAt: string;
}

/**
 * First state of `drill`: parses the input and refuses a kind the stage does not allow (nothing
 * has happened yet); the request names the alarm and the marker the drill will use.
 */
export const drillInput = defineStep({
  name: 'drill-input',
  input: Input,
  async run(event, deps): Promise<DrillRequest> {
    const input = parseOrThrow(DrillInput, withoutStartedBy(event.input), InvalidInputError, 'drill input');
    const drills = deps.config.drills;
    if (!drills?.kinds.includes(input.kind)) {
      throw new DrillRefusedError(
        `Drills of kind ${input.kind} are not allowed in ${deps.config.environment} (stage drills.kinds: ${drills?.kinds.join(', ') || 'none'}). Nothing was changed.`,
      );
    }
    const catalog = catalogOf(deps);
    if (!Object.hasOwn(catalog.alarms, drills.alarm)) {
      throw new DrillRefusedError(
        `The drill alarm ${drills.alarm} is not a rollback alarm of ${catalog.environment}`,
      );
    }
    return {
      procedure: 'drill',
      environment: deps.config.environment,
      drillId: event.executionName,
      kind: input.kind,
      reason: input.reason,
      requestedBy: input.requestedBy ?? 'scheduler',
      alarmName: alarmName(catalog, drills.alarm),
      marker: { key: DRILL_MARKER_KEY, name: drillMarkerName(deps.config.environment) },
      pollSeconds: drills.pollSeconds,
      polls: drills.polls,
      timing: requestTiming(deps.config.timing),
      startedAt: deps.clock.now().toISOString(),
    };
  },
});
