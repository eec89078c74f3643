import type { MetricDatum, MetricsSink } from '../../functions/shared/ports';

/** CloudWatch stand-in: keeps every data point published (the tests and the rehearsal read them). */
export class RecordingMetrics implements MetricsSink {
  readonly data: MetricDatum[] = [];

  async put(data: readonly MetricDatum[]): Promise<void> {
    this.data.push(...data);
  }

  /** Data points of one metric, in publication order. */
  named(name: string): MetricDatum[] {
    return this.data.filter((d) => d.name === name);
  }
}
