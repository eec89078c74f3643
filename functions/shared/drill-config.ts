import { z } from 'zod';

/**
 * Rollback drills (seed 001's monthly drills, seed 004's quarterly ones): what a stage allows,
 * shared by the stage configuration and the runtime configuration of the drill's steps.
 */

/** The watched parameter a config drill changes and the router rolls back: its only change. */
export const DRILL_MARKER_KEY = 'drill/MARKER';

/** The drill marker's full SSM name: Switchback's own, beside its flags. */
export function drillMarkerName(environment: string): string {
  return `/switchback/${environment}/drill/marker`;
}

/** Marks a drill's alarm reason: the router recognises the drill incident by it. */
export const DRILL_REASON_PREFIX = 'Switchback drill';
export const DRILL_REASON = /Switchback drill ([A-Za-z0-9_-]{1,80})\b/;

/** Bounds the drill's wait for its rollback (procedures/budget.ts derives its timeout from them). */
export const DRILL_LIMITS = { pollSeconds: 60, polls: 60 } as const;

export const DrillKind = z.enum(['config']);
export type DrillKind = z.infer<typeof DrillKind>;

export const DrillRuntimeConfig = z.strictObject({
  /** The kinds this stage allows; a drill of another kind is refused before anything happens. */
  kinds: z.array(DrillKind),
  /** The rollback alarm the drill puts into ALARM (an id of the stage's catalog). */
  alarm: z.string().min(1),
  /** How often, and how many times, the drill looks whether its change was rolled back. */
  pollSeconds: z.number().int().min(1).max(DRILL_LIMITS.pollSeconds),
  polls: z.number().int().min(1).max(DRILL_LIMITS.polls),
});
export type DrillRuntimeConfig = z.infer<typeof DrillRuntimeConfig>;
