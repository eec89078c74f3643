import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CDK_JSON, configCheck } from '../../cli/config-check';

const dir = mkdtempSync(join(tmpdir(), 'switchback-config-check-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const shipped = JSON.parse(readFileSync(CDK_JSON, 'utf8'));

/** Writes a cdk.json whose stages are the shipped ones after `edit`, and checks it. */
function check(edit: (stages: Record<string, unknown>[]) => void, env?: string) {
  const copy = structuredClone(shipped);
  edit(copy.context.switchback.stages);
  const file = join(dir, `cdk-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, JSON.stringify(copy));
  const lines: string[] = [];
  const code = configCheck({ file, env, write: (l) => lines.push(l) });
  return { code, lines };
}

describe('switchback config check', () => {
  it('passes on the shipped cdk.json, one line per stage', () => {
    const lines: string[] = [];
    expect(configCheck({ write: (l) => lines.push(l) })).toBe(0);
    expect(lines).toEqual(['staging: ready', 'prod: ready']);
  });

  it('refuses prod without data and without network, naming each field; staging stays ready', () => {
    const { code, lines } = check((stages) => {
      const prod = stages[1] as Record<string, unknown>;
      delete prod.data;
      delete prod.network;
    });
    expect(code).toBe(1);
    expect(lines[0]).toBe('staging: ready');
    expect(lines[1]).toBe('prod: 2 problems');
    expect(lines[2]).toMatch(
      /^ {2}network: endpoints\.apiBaseUrl \(memory-api\.prod\.internal:13370\) and endpoints\.sidecarBaseUrl \(memory-sidecar\.prod\.internal:7070\) are private addresses/,
    );
    expect(lines[3]).toMatch(/^ {2}data: the stage deploys cutovers but configures no data section/);
  });

  it('--env checks one stage; an unknown one is refused naming the stages there are', () => {
    const one = check((stages) => {
      delete (stages[1] as Record<string, unknown>).data;
    }, 'staging');
    expect(one).toEqual({ code: 0, lines: ['staging: ready'] });
    const unknown = check(() => {}, 'qa');
    expect(unknown.code).toBe(1);
    expect(unknown.lines).toEqual([expect.stringMatching(/no stage "qa" in .* \(stages: staging, prod\)$/)]);
  });

  it('a schema error is reported with its field, before any readiness check', () => {
    const { code, lines } = check((stages) => {
      (stages[0] as { endpoints: Record<string, unknown> }).endpoints.apiBaseUrl = 'not a url';
    });
    expect(code).toBe(1);
    expect(lines).toEqual([
      expect.stringMatching(
        /^config check: Invalid Switchback stage "staging": endpoints\.apiBaseUrl: must be an http\(s\) URL/,
      ),
    ]);
  });
});
