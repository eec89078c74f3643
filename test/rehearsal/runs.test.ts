import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { rehearse } from '../../local/rehearse';
import { CLI, TSX, tempDirs } from './support';

const tmp = tempDirs('switchback-runs-');
function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = join(dir, name);
    return statSync(full).isDirectory() ? filesUnder(full) : [full];
  });
}
async function answers(url: string): Promise<boolean> {
  return fetch(url, { signal: AbortSignal.timeout(1_000) }).then(
    () => true,
    () => false,
  );
}

describe('rehearsal runs', () => {
  it('restore-sqlite --fail-at VerifyMemoryRead: recovered as designed, exit 0, with the verdict printed', async () => {
    const lines: string[] = [];
    const dir = tmp();
    const result = await rehearse({
      procedure: 'restore-sqlite',
      failAt: 'VerifyMemoryRead',
      dir,
      write: (l) => lines.push(l),
    });
    expect(result.outcome).toBe('restore-failed-recovered');
    expect(result.verdict.exitCode).toBe(0);
    expect(lines).toContain(
      '  verdict        as designed: the failure injected at VerifyMemoryRead was handled (restore-failed-recovered)',
    );
    expect(result.lock).toBeUndefined();
    expect(JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')).verdict.exitCode).toBe(0);
  });

  it('rollback-router: the incident report is a plain file whose path is printed', async () => {
    const lines: string[] = [];
    const dir = tmp();
    const result = await rehearse({ procedure: 'rollback-router', dir, write: (l) => lines.push(l) });
    expect(result.verdict.exitCode).toBe(0);
    const md = result.reports.filter((f) => f.endsWith('.md'));
    expect(md).toHaveLength(1);
    expect(md[0]).toMatch(/\/reports\/incidents\/rehearsal\/[^/]+\.md$/);
    expect(readFileSync(md[0] as string, 'utf8')).toMatch(/^# /);
    expect(lines.some((l) => l.startsWith('  report         ') && l.endsWith('.md'))).toBe(true);
    expect(filesUnder(join(dir, 'reports')).some((f) => f.includes('_S3rver'))).toBe(false);
  });

  it('interrupted (SIGINT): executions stop, a partial report is written, the processes end', async () => {
    const dir = tmp();
    const stop = new AbortController();
    const lines: string[] = [];
    const result = await rehearse({
      procedure: 'provider-cutover',
      dir,
      signal: stop.signal,
      write: (l) => {
        lines.push(l);
        if (l.includes('+ RecordChange')) stop.abort();
      },
    });
    expect(result.verdict.exitCode).toBe(130);
    expect(result.execution.status).toBe('ABORTED');
    expect(lines).toContain('Summary (interrupted: partial)');
    const report = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8'));
    expect(report.interrupted).toBe(true);
    expect(
      report.executions.find((e: { procedure: string }) => e.procedure === 'provider-cutover').status,
    ).toBe('ABORTED');
    expect(await answers(`${report.endpoints.api}/health`)).toBe(false);
    expect(await answers(`${report.endpoints.sidecar}/health`)).toBe(false);
  });

  it('piped to a reader that goes away (| head): the CLI stops, writes the report, leaves no process', async () => {
    const dir = join(tmp(), 'run');
    const child = spawn(TSX, [CLI, 'rehearse', 'provider-cutover', '--dir', dir], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let seen = '';
    await new Promise<void>((resolve) => {
      child.stdout.on('data', (chunk: Buffer) => {
        seen += chunk.toString();
        // As `head -3` does: read three lines, then close the pipe.
        if (seen.split('\n').length > 3) {
          child.stdout.destroy();
          resolve();
        }
      });
    });
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    expect(code).toBe(141);
    expect(existsSync(join(dir, 'report.json'))).toBe(true);
    const report = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8'));
    expect(report.interrupted).toBe(true);
    expect(await answers(`${report.endpoints.api}/health`)).toBe(false);
  });
});
