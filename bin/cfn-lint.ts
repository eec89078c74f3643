/**
 * `npm run lint:cfn`: cfn-lint over the synthesized templates (`npm run synth` writes cdk.out).
 * Every finding fails, except the ones listed in ACCEPTED, each with why. Where cfn-lint is not
 * installed (it is a Python tool; a fresh machine may lack it) the pass is skipped, saying so.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(__dirname, '..');
const OUT = join(ROOT, 'cdk.out');
const STATEMACHINES = join(ROOT, 'statemachines');

interface Finding {
  readonly Filename: string;
  readonly Level: string;
  readonly Message: string;
  readonly Location: {
    readonly Path: readonly (string | number)[];
    readonly Start: { readonly LineNumber: number };
  };
  readonly Rule: { readonly Id: string };
}

/** Names of the Succeed states in the committed definitions (cfn-lint's schema lacks their OutputPath). */
function succeedStates(): Set<string> {
  const names = new Set<string>();
  const walk = (
    states: Record<
      string,
      { Type: string; Branches?: { States: object }[]; ItemProcessor?: { States: object } }
    >,
  ) => {
    for (const [name, s] of Object.entries(states)) {
      if (s.Type === 'Succeed') names.add(name);
      for (const b of s.Branches ?? []) walk(b.States as never);
      if (s.ItemProcessor) walk(s.ItemProcessor.States as never);
    }
  };
  for (const f of readdirSync(STATEMACHINES).filter((f) => f.endsWith('.asl.json'))) {
    walk(JSON.parse(readFileSync(join(STATEMACHINES, f), 'utf8')).States);
  }
  return names;
}

/** Findings accepted, each with the reason. Anything else fails the pass. */
const ACCEPTED: readonly {
  readonly rule: string;
  readonly why: string;
  readonly matches: (f: Finding) => boolean;
}[] = [
  {
    rule: 'E3601',
    why: "OutputPath on a Succeed state: Amazon States Language allows it (a Succeed state filters its output); cfn-lint's state machine schema omits it",
    matches: (f) => {
      const path = f.Location.Path;
      const state = path[path.length - 2];
      return (
        path[path.length - 1] === 'OutputPath' && typeof state === 'string' && succeedStates().has(state)
      );
    },
  },
  {
    rule: 'E3002',
    why: "Tags on AWS::CloudWatch::Dashboard: the CloudFormation reference lists Tags for dashboards (the CDK's CfnDashboard has them too); this cfn-lint's resource schema predates them",
    matches: (f) => {
      const path = f.Location.Path;
      return (
        path[0] === 'Resources' && path[path.length - 1] === 'Tags' && /^Dashboard/.test(String(path[1]))
      );
    },
  },
  {
    rule: 'W3005',
    why: "DependsOn on a role that a GetAtt already implies: the CDK adds it so the role's policy exists before the resource uses the role; redundant, harmless",
    matches: () => true,
  },
];

function main(): number {
  const which = spawnSync('cfn-lint', ['--version'], { encoding: 'utf8' });
  if (which.error || which.status !== 0) {
    console.log('cfn-lint: not installed here, skipped (pip install cfn-lint, then npm run lint:cfn)');
    return 0;
  }
  const templates = existsSync(OUT) ? readdirSync(OUT).filter((f) => f.endsWith('.template.json')) : [];
  if (!templates.length) {
    console.error('cfn-lint: no templates in cdk.out: run npm run synth first');
    return 1;
  }
  const run = spawnSync('cfn-lint', ['--format', 'json', ...templates.map((t) => join(OUT, t))], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  let findings: Finding[];
  try {
    findings = JSON.parse(run.stdout || '[]');
  } catch {
    console.error(`cfn-lint: could not read its output (exit ${run.status}): ${run.stderr.trim()}`);
    return 1;
  }
  const accepted = new Map<string, number>();
  const failing: Finding[] = [];
  for (const f of findings) {
    const rule = ACCEPTED.find((a) => a.rule === f.Rule.Id && a.matches(f));
    if (rule) accepted.set(rule.rule, (accepted.get(rule.rule) ?? 0) + 1);
    else failing.push(f);
  }
  for (const a of ACCEPTED) {
    const n = accepted.get(a.rule);
    if (n) console.log(`cfn-lint: accepted ${n} x ${a.rule}: ${a.why}`);
  }
  for (const f of failing) {
    console.error(
      `${f.Rule.Id} ${f.Message}\n  ${f.Filename}:${f.Location.Start.LineNumber} (${f.Location.Path.join('/')})`,
    );
  }
  console.log(
    `cfn-lint: ${templates.length} templates, ${findings.length} findings, ${failing.length} failing`,
  );
  return failing.length ? 1 : 0;
}

process.exitCode = main();
