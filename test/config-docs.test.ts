import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  CONFIG_DOCS,
  configDocs,
  configDocsDrift,
  REPO_ROOT,
  referenceRows,
  UndocumentedFieldError,
} from '../lib/config/docs';
import { parseStage, StageConfig } from '../lib/config/stage';
import { stage } from './infra/support';

describe('configuration documented from its schema', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'switchback-config-docs-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('the committed schema and reference are exactly what lib/config renders', () => {
    expect(configDocsDrift()).toEqual([]);
  });

  it('a hand edit or a missing file is caught, naming the file', () => {
    mkdirSync(join(scratch, 'docs'));
    for (const file of Object.values(CONFIG_DOCS)) cpSync(join(REPO_ROOT, file), join(scratch, file));
    const reference = join(scratch, CONFIG_DOCS.reference);
    writeFileSync(reference, readFileSync(reference, 'utf8').replace('`90`', '`30`'));
    rmSync(join(scratch, CONFIG_DOCS.cdkSchema));
    expect(configDocsDrift(scratch).sort()).toEqual([
      'docs/cdk.schema.json is missing: run npm run docs:config',
      'docs/configuration.md differs from lib/config (edited by hand, or a schema changed): run npm run docs:config',
    ]);
  });

  it('refuses a field without a description, naming its path', () => {
    const schema = z.strictObject({
      documented: z.strictObject({ inner: z.number() }).describe('an object'),
      plain: z.string(),
    });
    expect(() => referenceRows(z.toJSONSchema(schema) as never)).toThrow(UndocumentedFieldError);
    expect(() => referenceRows(z.toJSONSchema(schema) as never)).toThrow(
      'Stage fields without a description (add .describe() in the zod schema): documented.inner, plain',
    );
  });

  it('lists every field of the stage, each with its meaning', () => {
    const rows = referenceRows();
    const paths = rows.map((r) => r.path);
    for (const key of Object.keys(StageConfig.shape)) expect(paths, key).toContain(key);
    expect(paths).toContain('endpoints.sidecarBaseUrl');
    expect(paths).toContain('journal.watched.<key>.readers[].reads');
    expect(new Set(paths).size).toBe(paths.length);
    for (const r of rows) expect(r.description.length, r.path).toBeGreaterThan(5);
    const row = (path: string) => rows.find((r) => r.path === path);
    expect(row('name')).toMatchObject({ required: true, type: 'string' });
    expect(row('logRetentionDays')).toMatchObject({ required: false, default: 90 });
    expect(row('data.postgres.sslMode')?.type).toContain('`"verify-full"`');
  });

  it('every documented default of a field is the value the stage parser applies when it is left out', () => {
    // A minimal stage with every optional section present (so their fields' defaults apply).
    const parsed = parseStage(
      stage({
        data: {
          postgres: {
            host: 'db.internal',
            user: 'switchback',
            passwordSecret: '/memory/test/pg',
            databases: ['memory'],
          },
        },
      }),
    ) as unknown as Record<string, unknown>;
    const at = (path: string): unknown =>
      path.split('.').reduce<unknown>((v, k) => (v as Record<string, unknown> | undefined)?.[k], parsed);
    const checked: string[] = [];
    for (const r of referenceRows()) {
      if (r.default === undefined || r.path.includes('[]') || r.path.includes('<key>')) continue;
      if (typeof r.default === 'object' && r.default !== null) continue;
      const parent = r.path.split('.').slice(0, -1).join('.');
      if (parent && at(parent) === undefined) continue;
      expect(at(r.path), r.path).toEqual(r.default);
      checked.push(r.path);
    }
    expect(checked).toEqual(
      expect.arrayContaining([
        'logRetentionDays',
        'timing.httpTimeoutMs',
        'data.postgres.port',
        'journal.bakeMinutes',
      ]),
    );
  });

  it('cdk.json names its schema, and the schema of cdk.json points the stages at the stage schema', () => {
    const cdk = JSON.parse(readFileSync(join(REPO_ROOT, 'cdk.json'), 'utf8')) as Record<string, unknown>;
    expect(cdk.$schema).toBe(`./${CONFIG_DOCS.cdkSchema}`);
    const docs = configDocs();
    const cdkSchema = JSON.parse(docs[CONFIG_DOCS.cdkSchema] as string);
    expect(cdkSchema.properties.context.properties.switchback.properties.stages.items).toEqual({
      $ref: './stage.schema.json',
    });
    const stageSchema = JSON.parse(docs[CONFIG_DOCS.stageSchema] as string);
    expect(stageSchema.required).toEqual(['name', 'services', 'endpoints']);
    expect(stageSchema.additionalProperties).toBe(false);
  });
});
