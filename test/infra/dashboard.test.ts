import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, describe, expect, it } from 'vitest';
import { RECOVERY_TARGETS } from '../../functions/shared/alarm-catalog';
import type { SwitchbackStack } from '../../lib/switchback-stack';
import { cdkJsonStages, synthApp } from './support';

const synth = synthApp(cdkJsonStages());
afterAll(() => synth.cleanup());
const stack = synth.stacks[0] as SwitchbackStack;
const template = Template.fromStack(stack);
const env = (cdkJsonStages()[0] as { name: string }).name;

/** The dashboard body with each CloudFormation reference written as `<Logical>` or `<Logical.Arn>`. */
function body(): { widgets: Widget[] } {
  const dashboards = Object.values(template.findResources('AWS::CloudWatch::Dashboard'));
  expect(dashboards).toHaveLength(1);
  const raw = (dashboards[0]!.Properties as { DashboardBody: unknown }).DashboardBody;
  const parts = (raw as { 'Fn::Join': [string, unknown[]] })['Fn::Join'][1];
  const text = parts
    .map((p) => {
      if (typeof p === 'string') return p;
      const ref = (p as { Ref?: string }).Ref;
      if (ref) return `<${ref}>`;
      const att = (p as { 'Fn::GetAtt'?: [string, string] })['Fn::GetAtt'];
      if (att) return `<${att[0]}.${att[1]}>`;
      throw new Error(`unexpected part ${JSON.stringify(p)}`);
    })
    .join('');
  return JSON.parse(text);
}
interface Widget {
  type: string;
  properties: {
    title?: string;
    alarms?: string[];
    metrics?: unknown[][];
    annotations?: { horizontal?: { value: number; label: string }[] };
    markdown?: string;
  };
}
const widgets = body().widgets;
const titled = (title: string) => {
  const w = widgets.find((x) => x.properties.title?.startsWith(title));
  expect(w, `widget "${title}"`).toBeDefined();
  return w as Widget;
};
const logicalIds = (type: string) => Object.keys(template.findResources(type));

describe('the stage dashboard', () => {
  it('is named after the stage', () => {
    const name = Object.values(template.findResources('AWS::CloudWatch::Dashboard'))[0]?.Properties
      .DashboardName as string;
    expect(name).toBe(`Switchback-${env}`);
  });

  it('shows the status of every alarm of the stack', () => {
    const shown = widgets
      .filter((w) => w.type === 'alarm')
      .flatMap((w) => w.properties.alarms ?? [])
      .map((a) => a.replace(/^<(.+)\.Arn>$/, '$1'));
    const all = logicalIds('AWS::CloudWatch::Alarm');
    expect(all.length).toBeGreaterThan(40);
    expect([...shown].sort()).toEqual([...all].sort());
  });

  it('graphs the probe availability and latency of the API and the sidecar at 10 s', () => {
    const availability = titled('Probe availability').properties.metrics ?? [];
    const latency = titled('Probe latency').properties.metrics ?? [];
    for (const [metrics, name, stat] of [
      [availability, 'Availability', 'Minimum'],
      [latency, 'LatencyMs', 'p95'],
    ] as const) {
      expect(metrics.map((m) => [m[0], m[1], m[4], m[5]])).toEqual([
        ['Switchback', name, 'Target', 'api'],
        ['Switchback', name, 'Target', 'sidecar'],
      ]);
      for (const m of metrics) expect(m.at(-1)).toMatchObject({ stat, period: 10 });
    }
  });

  it("puts the recovery phases against seed 004's targets", () => {
    const w = titled('Recovery phases');
    expect((w.properties.metrics ?? []).map((m) => m[1])).toEqual([
      'AlarmToRouterSeconds',
      'RouterToRollbackSeconds',
      'RollbackToVerifiedSeconds',
      'AlarmToVerifiedSeconds',
    ]);
    expect(w.properties.annotations?.horizontal?.map((a) => a.value)).toEqual([
      RECOVERY_TARGETS.detectToDecide,
      RECOVERY_TARGETS.decideToExecute,
      RECOVERY_TARGETS.executeToVerify,
      RECOVERY_TARGETS.total,
    ]);
    const incidents = JSON.stringify(titled('Incidents by outcome').properties.metrics);
    expect(incidents).toContain('SEARCH(');
    expect(incidents).toContain('MetricName=\\"Incidents\\"');
  });

  it('counts the executions of every state machine by outcome', () => {
    const machines = logicalIds('AWS::StepFunctions::StateMachine');
    expect(machines.length).toBeGreaterThanOrEqual(6);
    for (const [title, metric] of [
      ['Executions succeeded', 'ExecutionsSucceeded'],
      ['Executions failed', 'ExecutionsFailed'],
      ['Executions aborted', 'ExecutionsAborted'],
      ['Executions timed out', 'ExecutionsTimedOut'],
    ] as const) {
      const metrics = titled(title).properties.metrics ?? [];
      expect(new Set(metrics.map((m) => m[1]))).toEqual(new Set([metric]));
      expect(metrics.map((m) => String(m[3]).replace(/^<(.+)>$/, '$1')).sort()).toEqual([...machines].sort());
    }
  });
});
