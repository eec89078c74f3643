import { describe, expect, it } from 'vitest';
import { chooseCulprit } from '../../functions/shared/culprit';
import { type JournalChange, newEntry } from '../../functions/shared/journal';
import type { AlarmHistory } from '../../functions/shared/last-known-good';

const NOW = new Date('2025-03-01T12:00:00.000Z');
const QUIET: AlarmHistory = { coversSince: '2025-02-28T00:00:00.000Z', intervals: [] };
const ALARM_AT = '2025-03-01T11:58:00.000Z';

function entry(at: string, id: string, change: JournalChange, actor: string | null = null) {
  const subject =
    change.type === 'deployment'
      ? `service:${change.service}`
      : change.type === 'parameter'
        ? `parameter:${change.key}`
        : `procedure:${change.type === 'procedure' ? change.procedure : 'backup'}`;
  return newEntry({
    environment: 'test',
    at,
    source: change.type === 'deployment' ? 'aws.ecs' : change.type === 'parameter' ? 'aws.ssm' : 'switchback',
    sourceEventId: id,
    kind: change.type === 'deployment' ? 'code' : 'config',
    subject,
    actor,
    change,
    now: NOW,
    retentionDays: 90,
  });
}
const deploy = (at: string, id: string, from: string, to: string, rollback = false) =>
  entry(at, id, {
    type: 'deployment',
    service: 'api',
    serviceName: 'memory-api',
    deploymentId: `ecs-svc/${id}`,
    serviceDeploymentArn: null,
    state: 'IN_PROGRESS',
    rollback,
    from,
    to,
  });
const param = (at: string, id: string, from: string, to: string) =>
  entry(
    at,
    id,
    {
      type: 'parameter',
      key: 'mcp/AUTONOMOUS_MODE',
      name: '/memory/test/mcp/AUTONOMOUS_MODE',
      operation: 'Update',
      parameterType: 'String',
      fromVersion: 1,
      toVersion: 2,
      fromValue: from,
      toValue: to,
      invalid: null,
    },
    'arn:aws:iam::111122223333:user/alice',
  );
const cutover = (at: string, changeId: string, status: 'completed' | 'rolled-back' = 'completed') =>
  entry(at, `${changeId}:${status}`, {
    type: 'procedure',
    procedure: 'provider-cutover',
    changeId,
    status,
    flags: [{ name: 'memory/provider', from: 'native', to: 'http' }],
    taskDefinition: 'api:1',
  });

const decide = (entries: ReturnType<typeof entry>[], maxChangeAgeHours = 24, history = QUIET) =>
  chooseCulprit({
    entries,
    history,
    options: { bakeMinutes: 30, now: NOW },
    alarmAt: ALARM_AT,
    maxChangeAgeHours,
  });

describe('chooseCulprit: which change an alarm rolls back', () => {
  it('a CI deploy: code-rollback of that entry', () => {
    const d = decide([deploy('2025-03-01T11:50:00.000Z', 'ci', 'api:1', 'api:2')]);
    expect(d.culprit).toMatchObject({ procedure: 'code-rollback', what: 'api deployed api:1 -> api:2' });
    expect(d.culprit?.changeId).toBe(d.culprit?.entryId);
    expect(d.considered).toEqual([expect.objectContaining({ rolledBack: true })]);
  });

  it('a hand-made parameter change: config-rollback, naming who made it', () => {
    const d = decide([param('2025-03-01T11:40:00.000Z', 'p', 'false', 'true')]);
    expect(d.culprit).toMatchObject({
      procedure: 'config-rollback',
      what: 'mcp/AUTONOMOUS_MODE "false" -> "true"',
    });
    expect(d.why).toMatch(/by arn:aws:iam::111122223333:user\/alice/);
  });

  it('newest first: a cutover, then a deploy -> the deploy; the cutover is listed with what would undo it', () => {
    const d = decide([
      cutover('2025-03-01T11:00:00.000Z', 'co-1'),
      deploy('2025-03-01T11:50:00.000Z', 'ci', 'api:1', 'api:2'),
    ]);
    expect(d.culprit?.procedure).toBe('code-rollback');
    const co = d.considered.find((c) => c.what.startsWith('provider-cutover'));
    expect(co).toMatchObject({ rolledBack: false });
    expect(co?.why).toMatch(
      /older than the newest change \(api deployed api:1 -> api:2\).*provider-rollback undoes this one \(changeId co-1\)/,
    );
  });

  it('a cutover alone: provider-rollback with its change id; one already rolled back is not a candidate', () => {
    expect(decide([cutover('2025-03-01T11:30:00.000Z', 'co-2')]).culprit).toMatchObject({
      procedure: 'provider-rollback',
      changeId: 'co-2',
    });
    const undone = decide([
      cutover('2025-03-01T11:30:00.000Z', 'co-2'),
      cutover('2025-03-01T11:35:00.000Z', 'co-2', 'rolled-back'),
    ]);
    expect(undone.culprit).toBeNull();
    expect(undone.considered[0]?.why).toMatch(/rolled back already/);
  });

  it('a change made after the alarm cannot have caused it; one older than maxChangeAgeHours is not undone', () => {
    // The old change was alarmed during its bake, so it is no last known good: a candidate, but too old.
    const history: AlarmHistory = {
      coversSince: '2025-02-28T00:00:00.000Z',
      intervals: [{ alarm: 'a', from: '2025-02-28T20:05:00.000Z', to: '2025-02-28T20:10:00.000Z' }],
    };
    const d = decide(
      [
        deploy('2025-03-01T11:59:30.000Z', 'late', 'api:1', 'api:2'),
        param('2025-02-28T20:00:00.000Z', 'old', 'false', 'true'),
      ],
      6,
      history,
    );
    expect(d.culprit).toBeNull();
    expect(d.why).toMatch(/nothing to roll back/);
    expect(d.considered.map((c) => c.why)).toEqual([
      expect.stringMatching(/after the alarm went to ALARM/),
      expect.stringMatching(/older than 6 h/),
    ]);
  });

  it('a change that stayed in service through its bake is the last known good, not a candidate', () => {
    expect(decide([param('2025-02-28T20:00:00.000Z', 'old', 'false', 'true')]).considered).toEqual([]);
  });

  it("ECS's own rollback deployment is not a candidate; a restart on the same task definition is not a change", () => {
    const d = decide([
      deploy('2025-03-01T11:00:00.000Z', 'restart', 'api:1', 'api:1'),
      deploy('2025-03-01T11:50:00.000Z', 'ecs', 'api:1', 'api:0', true),
    ]);
    expect(d.culprit).toBeNull();
    expect(d.considered).toEqual([
      expect.objectContaining({ why: expect.stringMatching(/ECS rolled this deployment back itself/) }),
    ]);
  });
});

describe('chooseCulprit after a rollback', () => {
  it('the rollback that put the last known good back is no culprit: a second alarm finds nothing to undo', () => {
    const d = decide([
      deploy('2025-03-01T11:40:00.000Z', 'ci', 'api:1', 'api:2'),
      deploy('2025-03-01T11:45:00.000Z', 'back', 'api:2', 'api:1'),
    ]);
    expect(d.considered.map((c) => [c.what, c.rolledBack])).toEqual([
      ['api deployed api:2 -> api:1', false],
      ['api deployed api:1 -> api:2', true],
    ]);
    expect(d.considered[0]?.why).toMatch(/put the last known good back/);
  });
});

describe('chooseCulprit: a completed feature rollout', () => {
  const rollout = (at: string, status: 'completed' | 'rolled-back') =>
    entry(at, `ro-1:${status}`, {
      type: 'procedure',
      procedure: 'feature-rollout',
      changeId: 'ro-1',
      status,
      flags: [{ name: 'features/memory-context', from: null, to: '{"enabled":true,"percentage":100}' }],
      taskDefinition: null,
    });

  it('is undone by feature-disable, with the rollout id; once rolled back, by nothing', () => {
    expect(decide([rollout('2025-03-01T11:30:00.000Z', 'completed')]).culprit).toMatchObject({
      procedure: 'feature-disable',
      changeId: 'ro-1',
    });
    expect(
      decide([
        rollout('2025-03-01T11:30:00.000Z', 'completed'),
        rollout('2025-03-01T11:40:00.000Z', 'rolled-back'),
      ]).culprit,
    ).toBeNull();
  });
});
