/**
 * `npx tsx bin/moto-check.ts`: runs the SSM and CloudWatch adapters of config rollback and last
 * known good against moto_server (an AWS emulator, a Python tool) on 127.0.0.1, as a check beside
 * the unit tests (which mock the SDK). Where moto_server is not installed, or moto does not
 * implement an API, that part is skipped, saying so. Not part of `npm test`: it starts a process.
 */

import { strict as assert } from 'node:assert';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import {
  CloudWatchClient,
  DescribeAlarmHistoryCommand,
  PutMetricAlarmCommand,
  SetAlarmStateCommand,
} from '@aws-sdk/client-cloudwatch';
import { PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { CloudWatchAlarmHistory } from '../functions/shared/adapters/cloudwatch-alarm-history';
import { SsmParameterHistory } from '../functions/shared/adapters/ssm-parameter-history';
import { SsmWatchedParameters } from '../functions/shared/adapters/ssm-watched-parameters';
import { SecureParameterRefusedError } from '../functions/shared/errors';

const REGION = 'eu-west-1';
// The emulator accepts any key; these name no account.
const CREDENTIALS = { accessKeyId: 'emulator', secretAccessKey: 'emulator' };

/** Starts moto_server on a port the system picks; resolves with its endpoint once it listens. */
async function start(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(
      () => reject(new Error(`moto_server did not start within 10 s: ${seen}`)),
      10_000,
    );
    child.once('exit', (code) => reject(new Error(`moto_server exited with ${code}: ${seen}`)));
    child.stderr?.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
      const m = /Running on (http:\/\/127\.0\.0\.1:\d+)/.exec(seen);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
  });
}

async function checkSsm(ssm: SSMClient): Promise<void> {
  const watched = new SsmWatchedParameters(ssm);
  const history = new SsmParameterHistory(ssm);
  const name = '/memory/emulated/mcp/AUTONOMOUS_MODE';
  assert.equal(await watched.get(name), undefined, 'an absent parameter reads as undefined');
  assert.deepEqual(await watched.put(name, 'false'), { version: 1 });
  assert.deepEqual(await watched.put(name, 'true'), { version: 2 });
  assert.deepEqual(await watched.get(name), { version: 2, type: 'String', value: 'true' });
  assert.deepEqual(
    (await history.history(name)).map((v) => [v.version, v.value]),
    [
      [1, 'false'],
      [2, 'true'],
    ],
    'restoring by value moves the version forward and keeps history',
  );

  const list = '/memory/emulated/mem0/REGIONS';
  await ssm.send(new PutParameterCommand({ Name: list, Value: 'a', Type: 'StringList' }));
  await watched.put(list, 'a,b');
  assert.deepEqual(await watched.get(list), { version: 2, type: 'StringList', value: 'a,b' });

  const secure = '/memory/emulated/mem0/API_KEY';
  const secret = 'emulated-secret-value-never-shown';
  await ssm.send(new PutParameterCommand({ Name: secure, Value: secret, Type: 'SecureString' }));
  const read = await watched.get(secure);
  assert.deepEqual(read, { version: 1, type: 'SecureString', value: null });
  await assert.rejects(watched.put(secure, 'plain'), SecureParameterRefusedError);
  assert.deepEqual(
    await watched.get(secure),
    { version: 1, type: 'SecureString', value: null },
    'nothing written',
  );
  const versions = await history.history(secure);
  assert.ok(!JSON.stringify([read, versions]).includes(secret), 'the SecureString value never appears');
  console.log('ssm: watched parameters and parameter history behave against the emulator');
}

async function checkCloudWatch(cloudwatch: CloudWatchClient): Promise<void> {
  const name = 'switchback-emulated-s004-error-rate';
  await cloudwatch.send(
    new PutMetricAlarmCommand({
      AlarmName: name,
      Namespace: 'Switchback/Emulated',
      MetricName: 'Errors',
      Statistic: 'Sum',
      Period: 60,
      EvaluationPeriods: 1,
      Threshold: 1,
      ComparisonOperator: 'GreaterThanThreshold',
    }),
  );
  await cloudwatch.send(
    new SetAlarmStateCommand({ AlarmName: name, StateValue: 'ALARM', StateReason: 'check' }),
  );
  try {
    await cloudwatch.send(
      new DescribeAlarmHistoryCommand({ AlarmName: name, HistoryItemType: 'StateUpdate' }),
    );
  } catch (err) {
    // moto 5.2 does not implement DescribeAlarmHistory; over the JSON protocol it answers HTTP 500.
    const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    if (status === 500 || String((err as Error).message).includes('not been implemented')) {
      console.log(
        `cloudwatch: skipped: the emulator answered DescribeAlarmHistory with HTTP ${status ?? '?'} (not implemented there)`,
      );
      return;
    }
    throw err;
  }
  const source = new CloudWatchAlarmHistory(cloudwatch, {
    namePrefix: 'switchback-emulated-',
    alarms: {
      's004-error-rate': {
        title: 'Error rate',
        seed: '004',
        service: 'api',
        issueType: 'critical-bug',
        severity: 'high',
        priority: 'P0',
        rollback: 'code',
      },
    },
  });
  const now = new Date();
  const history = await source.history({ since: new Date(now.getTime() - 3_600_000), until: now });
  assert.equal(history.intervals.length, 1, 'the alarm set to ALARM is one open interval');
  assert.equal(history.intervals[0]?.to, null);
  console.log('cloudwatch: alarm history behaves against the emulator');
}

async function main(): Promise<void> {
  if (spawnSync('moto_server', ['--help'], { stdio: 'ignore' }).status !== 0) {
    console.log('skipped: moto_server is not installed');
    return;
  }
  const child = spawn('moto_server', ['-H', '127.0.0.1', '-p', '0'], { stdio: ['ignore', 'ignore', 'pipe'] });
  try {
    const endpoint = await start(child);
    const config = { endpoint, region: REGION, credentials: CREDENTIALS, maxAttempts: 1 };
    await checkSsm(new SSMClient(config));
    await checkCloudWatch(new CloudWatchClient(config));
  } finally {
    child.kill();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
