import { z } from 'zod';
import { joinUrl, requestJson } from '../shared/http';
import { defineStep } from '../shared/step';

/**
 * What the hold for an operator left behind, as the state carries it: the lock item as read
 * after it was marked (`heldLock`, a DynamoDB GetItem answer) and the errors of the hold's own
 * steps, if any. Everything is optional: the hold goes on whatever failed before it.
 */
const Held = z.looseObject({
  heldLock: z
    .looseObject({
      Item: z
        .looseObject({
          status: z.looseObject({ S: z.string() }).optional(),
          owner: z.looseObject({ S: z.string() }).optional(),
        })
        .optional(),
    })
    .optional(),
  maintenanceError: z.looseObject({ Error: z.string().optional() }).optional(),
  maintenanceRestartError: z.looseObject({ Error: z.string().optional() }).optional(),
  lockMarkError: z.looseObject({ Error: z.string().optional() }).optional(),
});

const Input = z.strictObject({ state: Held });

export interface HoldObservation {
  /** The maintenance-mode flag as read now: `on`, `off`, or `unreadable`. */
  readonly maintenanceFlag: 'on' | 'off' | 'unreadable';
  /** What the API's /health says: `on`, `off`, or `unreachable`. */
  readonly apiMaintenance: 'on' | 'off' | 'unreachable';
  /** The lock item's status as read after the hold: `needs-operator`, `held`, `absent`, `unreadable`. */
  readonly lockStatus: string;
  /** The lock's owner (an execution ARN), or an empty string when there is no lock or none was read. */
  readonly lockOwner: string;
  /** `held` while the lock item exists (whatever its status), `not held`, or `unknown`. */
  readonly lock: 'held' | 'not held' | 'unknown';
  /** One sentence of what was observed, for the notice. */
  readonly summary: string;
}

/**
 * Observes the environment a hold for an operator left: the maintenance flag, whether the API
 * serves maintenance (after the hold restarted it and waited for it to settle), and the lock.
 * The notice is written from this, never from what the hold meant to do. It never throws for what
 * it observes: an unreachable API or an unreadable flag is reported as such.
 */
export const observeHold = defineStep({
  name: 'observe-hold',
  input: Input,
  async run({ state }, { config, flags, fetch }): Promise<HoldObservation> {
    let maintenanceFlag: HoldObservation['maintenanceFlag'] = 'unreadable';
    try {
      const v = (await flags.get('maintenance-mode')).value;
      maintenanceFlag = v === 'on' ? 'on' : 'off';
    } catch {
      // Reported as unreadable below.
    }

    // The hold waited for the API's restart to settle; a few answers tell what it serves now (a
    // task still draining may answer once more with the old value, one still starting not at all).
    const pauseMs = 500;
    const deadline = Date.now() + 3 * pauseMs;
    let apiMaintenance: HoldObservation['apiMaintenance'] = 'unreachable';
    for (;;) {
      try {
        const res = await requestJson(fetch, joinUrl(config.endpoints.api, '/health'), {
          timeoutMs: config.timing.httpTimeoutMs,
        });
        const body = z.looseObject({ maintenance: z.boolean() }).safeParse(res.body);
        apiMaintenance = body.success ? (body.data.maintenance ? 'on' : 'off') : 'unreachable';
      } catch {
        apiMaintenance = 'unreachable';
      }
      // Asked again while, with the flag on, it answers `off` (a task still draining) or does not
      // answer (a task still starting: a restart the hold or the change before it began).
      if (apiMaintenance === 'on' || maintenanceFlag !== 'on' || Date.now() + pauseMs > deadline) break;
      await new Promise((r) => setTimeout(r, pauseMs));
    }

    const item = state.heldLock?.Item;
    const lockStatus =
      state.heldLock === undefined ? 'unreadable' : item ? (item.status?.S ?? 'unknown') : 'absent';
    const lock = lockStatus === 'absent' ? 'not held' : lockStatus === 'unreadable' ? 'unknown' : 'held';

    const api = {
      on: 'the API serves maintenance',
      off: 'the API does NOT serve maintenance',
      unreachable: 'the API did not answer /health',
    }[apiMaintenance];
    const lockText =
      {
        'needs-operator': 'the environment lock is HELD (needs-operator)',
        held: 'the environment lock is held but NOT marked needs-operator (the janitor may free it once this execution fails)',
        absent: 'the environment lock is NOT held',
        unreadable: 'the environment lock could not be read',
      }[lockStatus as 'needs-operator' | 'held' | 'absent' | 'unreadable'] ??
      `the environment lock has status ${lockStatus}`;
    const failed = [
      state.maintenanceError &&
        `setting maintenance mode failed (${state.maintenanceError.Error ?? 'error'})`,
      state.maintenanceRestartError &&
        `restarting the API into maintenance failed (${state.maintenanceRestartError.Error ?? 'error'})`,
      state.lockMarkError && `marking the lock failed (${state.lockMarkError.Error ?? 'error'})`,
    ].filter(Boolean);
    const summary =
      `Observed: maintenance-mode flag ${maintenanceFlag}; ${api}; ${lockText}.` +
      (failed.length ? ` While holding, ${failed.join('; ')}.` : '');
    return { maintenanceFlag, apiMaintenance, lockStatus, lockOwner: item?.owner?.S ?? '', lock, summary };
  },
});
