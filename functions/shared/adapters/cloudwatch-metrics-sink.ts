import { type CloudWatchClient, PutMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import type { MetricDatum, MetricsSink } from '../ports';

/** PutMetricData takes at most this many data points per call (the long-standing documented limit). */
const BATCH = 20;

/** Metrics in one CloudWatch namespace (the function's role may publish to that namespace only). */
export class CloudWatchMetricsSink implements MetricsSink {
  constructor(
    private readonly client: CloudWatchClient,
    private readonly namespace: string,
  ) {}

  async put(data: readonly MetricDatum[]): Promise<void> {
    for (let i = 0; i < data.length; i += BATCH) {
      await this.client.send(
        new PutMetricDataCommand({
          Namespace: this.namespace,
          MetricData: data.slice(i, i + BATCH).map((d) => ({
            MetricName: d.name,
            Value: d.value,
            Unit: d.unit,
            Timestamp: d.timestamp,
            StorageResolution: d.storageResolution,
            Dimensions: Object.entries(d.dimensions).map(([Name, Value]) => ({ Name, Value })),
          })),
        }),
      );
    }
  }
}
