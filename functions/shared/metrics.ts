import { ConfigurationError } from './errors';
import type { MetricsSink } from './ports';

/** Namespace of every metric Switchback publishes (health probe, recovery times). */
export const METRICS_NAMESPACE = 'Switchback';

/** The metrics sink of a step that publishes; a function wired without one is a configuration error. */
export function metricsOf(deps: { readonly metrics?: MetricsSink }): MetricsSink {
  if (!deps.metrics)
    throw new ConfigurationError('This step publishes metrics but was given no metrics sink');
  return deps.metrics;
}
