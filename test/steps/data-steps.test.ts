import { describe, expect, it } from 'vitest';
import { backupCatalog } from '../../functions/backup-catalog/backup-catalog';
import { dataResult } from '../../functions/data-result/data-result';
import { scaleService } from '../../functions/scale-service/scale-service';
import {
  BackupChecksumMismatchError,
  BackupNotFoundError,
  BackupNotVerifiedError,
  DataTaskFailedError,
  InvalidInputError,
} from '../../functions/shared/errors';
import { invokeStep } from '../../functions/shared/step';
import { validateDataInput } from '../../functions/validate-data-input/validate-data-input';
import { type BackupManifest, objectKeyOf, writeManifest } from '../../tasks/data/manifest';
import { clientConfig } from '../../tasks/data/postgres';
import { resultKeyOf } from '../../tasks/data/task';
import { fakeDeps, testConfig } from '../support/fakes';

const DATA = {
  postgres: { databases: ['memory'] },
  sqlite: { databases: { memory: '/mnt/efs/memory.sqlite' } },
  network: { subnets: ['subnet-1'], securityGroups: ['sg-1'], assignPublicIp: 'DISABLED' as const },
  writers: ['api' as const],
};

function manifest(backupId: string, takenAt: string, verified: boolean): BackupManifest {
  return {
    schemaVersion: 1,
    backupId,
    environment: 'test',
    store: 'postgres',
    database: 'memory',
    objectKey: objectKeyOf('test', 'postgres', 'memory', backupId),
    format: 'pg_dump-custom',
    serverVersion: '15.18',
    sizeBytes: 1234,
    sha256: 'a'.repeat(64),
    rowCounts: { 'public.memories': 3 },
    purpose: 'scheduled',
    reason: 'nightly',
    executionId: 'arn:x',
    takenAt,
    durationMs: 10,
    verification: verified
      ? { status: 'passed', method: 'pg_restore-scratch', at: takenAt, detail: 'ok' }
      : null,
  };
}

describe('data-result', () => {
  it('returns what the data task recorded', async () => {
    const deps = fakeDeps();
    deps.blobs.putText(
      resultKeyOf('test', 'run-1/check'),
      JSON.stringify({ ok: true, output: { sha256: 'x' }, finishedAt: 'now' }),
    );
    await expect(invokeStep(dataResult, { resultKey: 'run-1/check' }, deps)).resolves.toEqual({
      sha256: 'x',
    });
  });

  it("re-raises the task's error under its own name, so the state machine can catch it by name", async () => {
    const deps = fakeDeps();
    deps.blobs.putText(
      resultKeyOf('test', 'run-1/check'),
      JSON.stringify({
        ok: false,
        error: { name: 'BackupChecksumMismatchError', message: 'hashes differ' },
        finishedAt: 'now',
      }),
    );
    const err = await invokeStep(dataResult, { resultKey: 'run-1/check' }, deps).catch((e: Error) => e);
    expect(err).toBeInstanceOf(BackupChecksumMismatchError);
    expect((err as Error).message).toBe('hashes differ');
  });

  it('an unknown error name or no result at all is a DataTaskFailedError', async () => {
    const deps = fakeDeps();
    deps.blobs.putText(
      resultKeyOf('test', 'a'),
      JSON.stringify({
        ok: false,
        error: { name: 'TypeError', message: 'x is undefined' },
        finishedAt: 'now',
      }),
    );
    await expect(invokeStep(dataResult, { resultKey: 'a' }, deps)).rejects.toThrow(
      new DataTaskFailedError('TypeError: x is undefined'),
    );
    await expect(invokeStep(dataResult, { resultKey: 'missing' }, deps)).rejects.toThrow(DataTaskFailedError);
    await expect(invokeStep(dataResult, { resultKey: '../escape' }, deps)).rejects.toThrow(InvalidInputError);
  });
});

describe('backup-catalog', () => {
  it('lists newest first and resolves "latest-verified" past a newer unverified backup', async () => {
    const deps = fakeDeps();
    await writeManifest(deps.blobs, manifest('b-old', '2026-11-20T03:00:00.000Z', true));
    await writeManifest(deps.blobs, manifest('b-mid', '2026-11-21T03:00:00.000Z', true));
    await writeManifest(deps.blobs, manifest('b-new', '2026-11-22T03:00:00.000Z', false));
    const list = (await invokeStep(
      backupCatalog,
      { action: 'list', store: 'postgres', database: 'memory' },
      deps,
    )) as { backupId: string; verified: boolean }[];
    expect(list.map((b) => [b.backupId, b.verified])).toEqual([
      ['b-new', false],
      ['b-mid', true],
      ['b-old', true],
    ]);
    const resolved = await invokeStep(
      backupCatalog,
      { action: 'resolve', store: 'postgres', database: 'memory', backupId: 'latest-verified' },
      deps,
    );
    expect(resolved).toMatchObject({ backupId: 'b-mid', verified: true });
    await expect(
      invokeStep(
        backupCatalog,
        { action: 'resolve', store: 'postgres', database: 'memory', backupId: 'b-new' },
        deps,
      ),
    ).rejects.toThrow(BackupNotVerifiedError);
    await expect(
      invokeStep(
        backupCatalog,
        { action: 'resolve', store: 'postgres', database: 'memory', backupId: 'nope' },
        deps,
      ),
    ).rejects.toThrow(BackupNotFoundError);
  });

  it('retention protects the newest verified backup, however old, and lets every other one expire', async () => {
    const deps = fakeDeps();
    await writeManifest(deps.blobs, manifest('b-old', '2025-01-01T03:00:00.000Z', true));
    await writeManifest(deps.blobs, manifest('b-unverified-1', '2026-11-21T03:00:00.000Z', false));
    await writeManifest(deps.blobs, manifest('b-unverified-2', '2026-11-22T03:00:00.000Z', false));
    const out = await invokeStep(
      backupCatalog,
      { action: 'retain', store: 'postgres', database: 'memory' },
      deps,
    );
    expect(out).toEqual({ protected: 'b-old', expirable: ['b-unverified-2', 'b-unverified-1'] });
    expect(await deps.objects.getTags(objectKeyOf('test', 'postgres', 'memory', 'b-old'))).toEqual({
      'switchback:expirable': 'false',
    });
    expect(await deps.objects.getTags(objectKeyOf('test', 'postgres', 'memory', 'b-unverified-2'))).toEqual({
      'switchback:expirable': 'true',
    });
  });
});

describe('scale-service', () => {
  it('stops the writers and reports the counts to put back', async () => {
    const deps = fakeDeps();
    const out = await invokeStep(scaleService, { services: ['api'], desiredCount: 0 }, deps);
    expect(out.first).toMatchObject({ service: 'api', desiredCount: 0, previousDesiredCount: 2 });
    expect(deps.services.scales).toEqual([{ service: 'api', desiredCount: 0 }]);
    await expect(invokeStep(scaleService, { services: [], desiredCount: 0 }, deps)).rejects.toThrow(
      InvalidInputError,
    );
  });
});

describe('validate-data-input', () => {
  const deps = () => fakeDeps({ config: testConfig({ data: DATA }) });
  const event = (procedure: string, input: unknown) => ({
    procedure,
    executionId: 'arn:aws:states:eu-west-1:123456789012:execution:restore:run-1',
    executionName: 'run-1',
    input,
  });

  it('derives the ids and result keys of a restore from the execution name', async () => {
    const out = await invokeStep(
      validateDataInput,
      event('restore-sqlite', { database: 'memory', reason: 'bad import' }),
      deps(),
    );
    expect(out).toMatchObject({
      store: 'sqlite',
      database: 'memory',
      backupId: 'latest-verified',
      safetyBackupId: 'run-1-safety',
      writers: ['api'],
      lock: { owner: 'arn:aws:states:eu-west-1:123456789012:execution:restore:run-1', inherited: false },
      resultKeys: { check: 'run-1/check', restore: 'run-1/restore', putBack: 'run-1/put-back' },
      network: DATA.network,
    });
  });

  it.each([
    [
      'an unconfigured database',
      'restore-postgres',
      { database: 'other', reason: 'why not' },
      /database: "other" is not a configured postgres database/,
    ],
    [
      'a malformed backup id',
      'restore-postgres',
      { database: 'memory', backupId: '../x', reason: 'why not' },
      /backupId/,
    ],
    [
      'an unknown field',
      'backup',
      { store: 'sqlite', database: 'memory', reason: 'nightly', compress: true },
      /compress/,
    ],
    ['no reason', 'backup', { store: 'postgres', database: 'memory' }, /reason/],
  ])('refuses %s before anything runs', async (_n, procedure, input, message) => {
    await expect(invokeStep(validateDataInput, event(procedure, input), deps())).rejects.toThrow(message);
  });
});

describe('PostgreSQL client settings follow libpq', () => {
  it('maps PGSSLMODE the way pg_dump reads it', () => {
    const base = { PGHOST: 'db.internal', PGPORT: '5432', PGUSER: 'switchback', PGPASSWORD: 'x' };
    expect(clientConfig(base, 'memory')).not.toHaveProperty('ssl');
    expect(clientConfig({ ...base, PGSSLMODE: 'require' }, 'memory').ssl).toEqual({
      rejectUnauthorized: false,
    });
    expect(clientConfig({ ...base, PGSSLMODE: 'verify-full' }, 'memory').ssl).toEqual({
      rejectUnauthorized: true,
    });
    expect(clientConfig(base, 'memory')).toMatchObject({
      host: 'db.internal',
      port: 5432,
      database: 'memory',
    });
  });
});
