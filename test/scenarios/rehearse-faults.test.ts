import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { rehearse } from '../../local/rehearse';

describe('rehearsal faults: --fail-once-at beside --fail-at', () => {
  const dir = mkdtempSync(join(tmpdir(), 'switchback-rehearse-faults-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('a state that is not a Task of the procedure is refused, naming its Task states, before anything starts', async () => {
    const runDir = join(dir, 'refused');
    const lines: string[] = [];
    await expect(
      rehearse({
        procedure: 'provider-cutover',
        failOnceAt: 'SwitchToHTTP',
        dir: runDir,
        write: (l) => lines.push(l),
      }),
    ).rejects.toThrow(
      /^provider-cutover has no state "SwitchToHTTP"; --fail-once-at takes one of its Task states: AcquireLock, .*SwitchToHttp/,
    );
    expect(lines).toEqual([]);
    expect(existsSync(runDir)).toBe(false);
  });

  it('--fail-once-at: the transient error is retried away and the cutover goes forward, verified', async () => {
    const lines: string[] = [];
    const result = await rehearse({
      procedure: 'provider-cutover',
      failOnceAt: 'SwitchToHttp',
      dir: join(dir, 'once'),
      write: (l) => lines.push(l),
    });
    expect(lines).toContain('  transient failure injected once at provider-cutover:SwitchToHttp');
    expect(lines.some((l) => /~ SwitchToHttp\s+retry/.test(l))).toBe(true);
    expect(result.execution.status).toBe('SUCCEEDED');
    expect(result.execution.steps.find((s) => s.state === 'SwitchToHttp')?.retries).toBe(1);
    expect(result.execution.steps.map((s) => s.state)).toEqual(
      expect.arrayContaining([
        'RestartApi',
        'VerifyApiProvider',
        'VerifySidecar',
        'CloseChange',
        'ReleaseLock',
      ]),
    );
    expect(result.execution.steps.map((s) => s.state)).not.toContain('RollBack');
    expect(result.outcome).toBe('cutover-succeeded');
    expect(result.flags['memory/provider']).toBe('http');
    expect(result.apiProvider).toBe('http');
    expect(result.lock).toBeUndefined();
  });
});
