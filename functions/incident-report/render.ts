import type { IncidentReport } from './incident-report';

/**
 * The incident report as Markdown, in the order of seed 001's "Rollback Incident Report"
 * template: details (trigger, impact, detection), actions with their timeline, validation
 * results, then root cause and prevention left for the post-mortem.
 */
export function renderMarkdown(r: IncidentReport): string {
  const at = new Date(r.timeline.alarmStateChangedAt);
  const phase = (label: string, p: IncidentReport['phases'][keyof IncidentReport['phases']]) =>
    `| ${label} | ${p.seconds === null ? 'n/a' : `${p.seconds} s`} | ${p.targetSeconds / 60} min | ${
      p.withinTarget === null ? 'n/a' : p.withinTarget ? 'yes' : 'NO'
    } |`;
  const lines = [
    '# Rollback Incident Report',
    '',
    `**Date**: ${at.toISOString().slice(0, 10)}`,
    `**Time**: ${at.toISOString().slice(11, 19)} UTC`,
    `**Environment**: ${r.environment}`,
    `**Incident**: ${r.incidentId}`,
    `**Alarm**: ${r.trigger.alarm} (seed ${r.trigger.seed}: ${r.trigger.title})`,
    `**Rollback Type**: ${r.rollbackType}`,
    `**Outcome**: ${r.outcome}`,
    '',
    '## Incident Details',
    `- **Trigger**: ${r.trigger.transition}: ${r.trigger.reason}`,
    `- **Impact**: ${r.impact.service} (${r.impact.issueType}, severity ${r.impact.severity}, ${r.impact.priority})`,
    `- **Detection**: ${r.detection.how}; alarm state changed ${r.detection.alarmStateChangedAt}, router started ${r.detection.routerStartedAt}`,
    `- **Decision**: ${r.decision.why}`,
    '',
    '## Rollback Actions Taken',
    ...r.actions.map((a) => `- ${a.at ? `\`${a.at}\` ` : ''}${a.what}`),
    '',
    '### Timeline',
    '| phase | took | seed 004 target | within target |',
    '|---|---:|---:|---|',
    phase('detect -> decide (alarm -> router)', r.phases.detectToDecide),
    phase('decide -> execute (router -> rollback start)', r.phases.decideToExecute),
    phase('execute -> verify (rollback start -> verified)', r.phases.executeToVerify),
    phase('total (alarm -> verified)', r.phases.total),
    '',
    ...phaseChart(r),
    ...(r.considered.length
      ? [
          '### Changes considered (change journal, newest first)',
          ...r.considered.map(
            (c) =>
              `- ${c.rolledBack ? '**ROLLED BACK**' : 'not rolled back'}: \`${c.at}\` ${c.what}${c.actor ? ` (by ${c.actor})` : ''}: ${c.why}`,
          ),
          '',
        ]
      : []),
    '## Validation Results',
    `- **Service status**: ${r.validation.serviceStatus}`,
    `- **Performance metrics**: ${r.validation.performanceMetrics}`,
    `- **Data integrity**: ${r.validation.dataIntegrity}`,
    `- **Environment lock**: ${r.lock}`,
    '',
    '## Root Cause Analysis',
    `- ${r.rootCause}`,
    '',
    '## Prevention Measures',
    `- ${r.prevention}`,
    '',
  ];
  return lines.join('\n');
}

/**
 * The phases against seed 004's targets as a chart where the report is read (Markdown viewers that
 * render Mermaid: GitHub, GitLab, most wikis): bars for what each phase took, a line for its target.
 * A phase that did not happen is drawn as 0 and named in the table above.
 */
function phaseChart(r: IncidentReport): string[] {
  const phases = [
    ['detect->decide', r.phases.detectToDecide],
    ['decide->execute', r.phases.decideToExecute],
    ['execute->verify', r.phases.executeToVerify],
    ['total', r.phases.total],
  ] as const;
  const took = phases.map(([, p]) => p.seconds ?? 0);
  const targets = phases.map(([, p]) => p.targetSeconds);
  return [
    '```mermaid',
    'xychart-beta',
    '  title "Recovery phases against seed 004 targets (seconds)"',
    `  x-axis [${phases.map(([name]) => `"${name}"`).join(', ')}]`,
    `  y-axis "seconds" 0 --> ${Math.ceil(Math.max(...took, ...targets) * 1.1)}`,
    `  bar [${took.join(', ')}]`,
    `  line [${targets.join(', ')}]`,
    '```',
    '',
  ];
}
