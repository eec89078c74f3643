import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SFNClient } from '@aws-sdk/client-sfn';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listDrills } from '../../cli/aws';
import { S3BlobStore } from '../../functions/shared/adapters/s3-blob-store';
import { LocalS3 } from '../../local/s3';

const BUCKET = 'switchback-prod-backups';
let s3: LocalS3;
let dir: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'switchback-cli-drills-'));
  s3 = await LocalS3.start(dir, [BUCKET]);
});
afterAll(async () => {
  await s3.close();
  rmSync(dir, { recursive: true, force: true });
});

function report(drillId: string, startedAt: string, alarmToRolledBack: number) {
  return {
    schemaVersion: 1,
    drillId,
    environment: 'prod',
    kind: 'config',
    drill: true,
    alarm: 'switchback-prod-s004-error-rate',
    change: '/switchback/prod/drill/marker=true',
    timeline: { startedAt, changedAt: startedAt, alarmAt: startedAt, rolledBackAt: startedAt },
    phases: { changeToAlarm: 0.4, alarmToRolledBack, total: alarmToRolledBack + 1 },
    target: { alarmToVerifiedSeconds: 900, withinTarget: alarmToRolledBack <= 900 },
  };
}

describe('switchback drills', () => {
  it('lists the drills newest first with each phase against the target, and the trend', async () => {
    const blobs = new S3BlobStore(s3.client, BUCKET);
    const seconds = [40, 42, 38, 60, 65, 950];
    for (const [i, s] of seconds.entries()) {
      const id = `drill-${i + 1}`;
      await blobs.put(
        `drills/prod/${id}.json`,
        JSON.stringify(report(id, `2026-0${i + 1}-01T04:00:00.000Z`, s)),
        'application/json',
      );
      await blobs.put(`drills/prod/${id}.md`, '# report', 'text/markdown');
    }
    await blobs.put('drills/prod/broken.json', JSON.stringify({ hello: 'world' }), 'application/json');
    const ssm = mockClient(SSMClient);
    ssm
      .on(GetParameterCommand, { Name: '/switchback/prod/backup-bucket' })
      .resolves({ Parameter: { Value: BUCKET } });
    const lines: string[] = [];
    const code = await listDrills({
      env: 'prod',
      limit: 10,
      write: (l) => lines.push(l),
      clients: {
        ssm: new SSMClient({}),
        sfn: new SFNClient({}),
        dynamodb: new DynamoDBClient({}),
        s3: s3.client,
      },
    });
    ssm.restore();

    expect(code).toBe(0);
    expect(lines.find((l) => l.startsWith('skipped drills/prod/broken.json'))).toBeDefined();
    const rows = lines.filter((l) => l.startsWith('drill-'));
    expect(rows.map((r) => r.split(/\s+/)[0])).toEqual([
      'drill-6',
      'drill-5',
      'drill-4',
      'drill-3',
      'drill-2',
      'drill-1',
    ]);
    expect(rows[0]).toMatch(/950 s .* MISSED \(< 900 s\)$/);
    expect(rows[5]).toMatch(/40 s .* met \(< 900 s\)$/);
    // Newest three: 950, 65, 60 -> median 65; the three before: 38, 42, 40 -> 40.
    expect(lines.at(-1)).toBe(
      'trend: alarm -> verified median 65 s over the newest 3, 40 s over the 3 before (slower)',
    );
  });
});
