import 'aws-sdk-client-mock-vitest/extend';
import { CloudWatchClient, PutMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { CloudWatchMetricsSink } from '../../functions/shared/adapters/cloudwatch-metrics-sink';
import type { MetricDatum } from '../../functions/shared/ports';

const client = new CloudWatchClient({ region: 'eu-west-1' });
const cw = mockClient(client);
beforeEach(() => cw.reset());

const at = new Date('2025-03-01T10:00:00.000Z');
const datum = (i: number): MetricDatum => ({
  name: 'Availability',
  value: i % 2,
  unit: 'None',
  dimensions: { Environment: 'prod', Target: 'api' },
  timestamp: at,
  storageResolution: 1,
});

describe('CloudWatchMetricsSink', () => {
  it('publishes to its namespace with dimensions, unit, timestamp and storage resolution', async () => {
    cw.on(PutMetricDataCommand).resolves({});
    await new CloudWatchMetricsSink(client, 'Switchback').put([datum(1)]);
    expect(cw).toHaveReceivedCommandExactlyOnceWith(PutMetricDataCommand, {
      Namespace: 'Switchback',
      MetricData: [
        {
          MetricName: 'Availability',
          Value: 1,
          Unit: 'None',
          Timestamp: at,
          StorageResolution: 1,
          Dimensions: [
            { Name: 'Environment', Value: 'prod' },
            { Name: 'Target', Value: 'api' },
          ],
        },
      ],
    });
  });

  it('splits large batches (20 data points per call)', async () => {
    cw.on(PutMetricDataCommand).resolves({});
    await new CloudWatchMetricsSink(client, 'Switchback').put(Array.from({ length: 45 }, (_, i) => datum(i)));
    const sizes = cw.commandCalls(PutMetricDataCommand).map((c) => c.args[0].input.MetricData?.length);
    expect(sizes).toEqual([20, 20, 5]);
  });

  it('lets the SDK error through (the step decides what a failed publish means)', async () => {
    cw.on(PutMetricDataCommand).rejects(
      Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }),
    );
    await expect(new CloudWatchMetricsSink(client, 'Switchback').put([datum(0)])).rejects.toMatchObject({
      name: 'ThrottlingException',
    });
  });
});
