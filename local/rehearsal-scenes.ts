import type { Palette } from '../cli/palette';
import type { World } from './world';

/**
 * Rehearsals that tell a whole incident, for the procedures that undo somebody else's change:
 * the scene makes that change in the local world (a CI deploy of a bad build, a hand edit of a
 * watched parameter), sends real traffic through the API and measures its error rate, and when it
 * crosses seed 004's threshold the rollback alarm goes to ALARM: the rehearsal then runs the
 * rollback router on that alarm, which picks the procedure from the change journal.
 */
export interface Scene {
  /** What the scene shows, one line. */
  readonly title: string;
  /** The rollback alarm the measured error rate sets off. */
  readonly alarm: string;
  /** Makes the change; returns what it did, for the summary. */
  play(world: World, write: (line: string) => void, c: Palette): Promise<string>;
}

/** Seed 004: "error rate > 10 % for 5 min" (the rehearsal measures one burst of traffic). */
const ERROR_RATE_THRESHOLD = 10;
const TRAFFIC = 20;
const OPERATOR = 'arn:aws:iam::000000000000:user/operator';

/** Memory writes through the API; the share that failed, in percent. */
async function errorRate(world: World): Promise<number> {
  let failed = 0;
  for (let i = 0; i < TRAFFIC; i++) {
    const res = await fetch(`${world.config.endpoints.api}/memories`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text: `rehearsal traffic ${i}` }),
      signal: AbortSignal.timeout(world.config.timing.httpTimeoutMs),
    }).catch(() => undefined);
    await res?.arrayBuffer();
    if (!res || res.status >= 500) failed += 1;
  }
  return (100 * failed) / TRAFFIC;
}

async function settled(world: World): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const d = (await world.services.describe('api')).deployments[0];
    if (d?.rolloutState === 'COMPLETED') return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('The API did not become healthy after the change');
}

/** Traffic, then the alarm decision, as the alarm would make it. */
async function measure(world: World, write: (line: string) => void, c: Palette, alarm: string) {
  const rate = await errorRate(world);
  write(`  traffic  ${TRAFFIC} memory requests through the API: ${rate} % failed`);
  if (rate <= ERROR_RATE_THRESHOLD) {
    throw new Error(
      `The change raised the error rate to ${rate} % only, not above ${ERROR_RATE_THRESHOLD} %: no alarm`,
    );
  }
  write(
    c.yellow(
      `  alarm    ${alarm}: ${rate} % > ${ERROR_RATE_THRESHOLD} % -> ALARM (EventBridge starts the rollback router)`,
    ),
  );
}

export const SCENES: Readonly<Record<string, Scene>> = {
  'code-rollback': {
    title: 'CI deploys a bad build of the API; errors rise; the alarm; the router rolls the deploy back',
    alarm: 's004-error-rate',
    async play(world, write, c) {
      const before = (await world.services.describe('api')).taskDefinition;
      const bad = world.services.registerTaskDefinition('api', { FAULT_ERROR_PERCENT: '50' });
      await world.services.redeploy('api', bad);
      await settled(world);
      write(
        `  ci       deployed ${bad} to the API (was ${before}): a build that fails half its memory requests`,
      );
      await measure(world, write, c, 's004-error-rate');
      return `CI deploy ${before} -> ${bad}`;
    },
  },
  'config-rollback': {
    title:
      'An operator turns AUTONOMOUS_MODE on by hand and restarts the API; errors rise; the alarm; the router puts the value back',
    alarm: 's004-error-rate',
    async play(world, write, c) {
      const name = world.config.journal?.watched['mcp/AUTONOMOUS_MODE']?.name;
      if (!name) throw new Error('The rehearsal stage watches no mcp/AUTONOMOUS_MODE');
      world.parameters.putParameter(name, 'true', 'String', OPERATOR);
      await world.services.redeploy('api');
      await settled(world);
      write(`  operator set ${name}=true by hand (${OPERATOR}) and restarted the API to apply it`);
      await measure(world, write, c, 's004-error-rate');
      return `hand edit ${name} false -> true`;
    },
  },
};
