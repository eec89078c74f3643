import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { rehearse } from '../../local/rehearse';
import { startWorld } from '../support/world';

const SECRET = 'sk-live-CANARY-7f3a9c1e5b2d4068a1c3e5f7';

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = join(dir, name);
    return statSync(full).isDirectory() ? filesUnder(full) : [full];
  });
}

describe('no secret in any execution, notification, log, change record or report', () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('the sidecar key is used by the procedures yet appears nowhere they leave a trace', async () => {
    const world = await startWorld({
      sidecarApiKey: SECRET,
      faults: [{ procedure: 'provider-cutover', state: 'VerifySidecar' }],
    });
    try {
      // The key is really in force: without it the sidecar refuses, so the smoke tests must have sent it.
      const denied = await fetch(`${world.config.endpoints.sidecar}/recall?q=x`);
      expect(denied.status).toBe(401);

      const rolledBack = await world.engine.run('provider-cutover', { reason: 'first attempt' });
      expect(rolledBack.error).toBe('CutoverRolledBackError');
      expect(rolledBack.steps.find((s) => s.state === 'PreflightSidecarSmoke')?.outcome).toBe('succeeded');

      const traces = [
        JSON.stringify(world.engine.executions),
        JSON.stringify(world.engine.notifications),
        JSON.stringify(world.logs.entries),
        ...filesUnder(join(world.dir, 's3')).map((f) => readFileSync(f, 'utf8')),
        ...filesUnder(join(world.dir, 'logs')).map((f) => readFileSync(f, 'utf8')),
      ];
      expect(traces.join('\n').length).toBeGreaterThan(10_000);
      // Booleans, not toContain: a failure message must not print the secret either.
      for (const [i, trace] of traces.entries()) {
        expect(trace.includes(SECRET), `trace #${i} holds the secret`).toBe(false);
      }
      // The only place it lives is the parameter store, as a SecureString without history.
      const ssm = JSON.parse(readFileSync(join(world.dir, 'ssm-parameters.json'), 'utf8'));
      expect(ssm.parameters[world.sidecarApiKeyParameter].type).toBe('SecureString');
      expect(ssm.parameters[world.sidecarApiKeyParameter].value === SECRET).toBe(true);
      expect(JSON.stringify(ssm.parameters[world.sidecarApiKeyParameter].history).includes(SECRET)).toBe(
        false,
      );
    } finally {
      await world.dispose();
    }
  });

  it('the rehearsal output and its report.json carry no secret', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'switchback-rehearsal-'));
    dirs.push(dir);
    const lines: string[] = [];
    const result = await rehearse({
      procedure: 'provider-cutover',
      failAt: 'VerifyMemoryThroughApi',
      dir,
      write: (l) => lines.push(l),
    });
    expect(result.outcome).toBe('rolled-back');
    const key = JSON.parse(readFileSync(join(dir, 'ssm-parameters.json'), 'utf8')).parameters[
      '/switchback/rehearsal/secrets/sidecar-api-key'
    ].value as string;
    expect(key.startsWith('sk-rehearsal-')).toBe(true);
    expect(lines.join('\n').includes(key), 'rehearsal output holds the key').toBe(false);
    expect(readFileSync(join(dir, 'report.json'), 'utf8').includes(key), 'report.json holds the key').toBe(
      false,
    );
  });
});
