import { z } from 'zod';
import { DRILL_LIMITS, DrillKind } from '../../functions/shared/drill-config';

/**
 * The stage's `drills` section: which rollback drills may run here, when the schedule starts them
 * (seed 001: monthly), and the rollback alarm a drill puts into ALARM.
 */
export const DrillsStageConfig = z.strictObject({
  /** The kinds allowed (and scheduled) in this stage; none by default: a drill runs only where allowed. */
  kinds: z
    .array(DrillKind)
    .default([])
    .describe(
      'The drill kinds allowed (and scheduled) in this stage; none by default: a drill runs only where allowed.',
    ),
  /** EventBridge Scheduler expression, UTC. @default monthly, 04:00 on the 1st */
  schedule: z
    .string()
    .min(1)
    .default('cron(0 4 1 * ? *)')
    .describe(
      'EventBridge Scheduler expression (UTC) that starts each allowed drill kind; monthly by default.',
    ),
  /** The schedule's flexible window: the drill starts within this many minutes of its time. */
  flexibleWindowMinutes: z
    .number()
    .int()
    .min(1)
    .max(1440)
    .default(60)
    .describe("The schedule's flexible window: a drill starts within this many minutes of its time."),
  /** The rollback alarm (an id of the stage's alarms) the drill sets to ALARM. */
  alarm: z
    .string()
    .min(1)
    .default('s004-error-rate')
    .describe('The rollback alarm (an id of the stage alarms) the drill sets to ALARM with SetAlarmState.'),
  /** How often, and how many times, the drill looks whether the router rolled its change back. */
  pollSeconds: z
    .number()
    .int()
    .min(1)
    .max(DRILL_LIMITS.pollSeconds)
    .default(15)
    .describe('Seconds between two looks of the drill at its rollback.'),
  polls: z
    .number()
    .int()
    .min(1)
    .max(DRILL_LIMITS.polls)
    .default(40)
    .describe('How many looks before the drill fails and undoes its own change.'),
});
export type DrillsStageConfig = z.infer<typeof DrillsStageConfig>;
