import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { FlagNotFoundError, InvalidFlagValueError } from '../../functions/shared/errors';
import { type FlagName, flagParameterName } from '../../functions/shared/flags';
import type {
  FlagStore,
  FlagValue,
  ParameterHistory,
  ParameterVersion,
  SecretStore,
  WatchedParameterStore,
} from '../../functions/shared/ports';

/** A parameter write, as SSM sends it to EventBridge (`Parameter Store Change`): no value. */
export interface ParameterChange {
  readonly name: string;
  readonly type: 'String' | 'SecureString';
  readonly operation: 'Create' | 'Update';
  readonly at: Date;
}

/** Who writes when a caller names nobody: the rehearsal's own automation. */
const LOCAL_USER = 'arn:aws:iam::000000000000:role/switchback-local';

interface Parameter {
  type: 'String' | 'SecureString';
  value: string;
  version: number;
  /** Every version with its time, as SSM's GetParameterHistory; SecureString values are not kept. */
  history: { version: number; value: string | null; at: string; by?: string }[];
}

interface FileShape {
  parameters: Record<string, Parameter>;
}

/**
 * SSM stand-in for the rehearsal: parameters in one JSON file, with versions and history like
 * SSM's. Every call reads the file afresh, so separate processes (the CLI, a test) see one truth.
 */
export class FileParameterStore implements FlagStore {
  /** Called after every write, as SSM emits `Parameter Store Change` events. */
  readonly listeners: ((change: ParameterChange) => void)[] = [];

  constructor(
    readonly path: string,
    private readonly prefix: string,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async get(name: FlagName): Promise<FlagValue> {
    const full = flagParameterName(this.prefix, name);
    const p = this.read().parameters[full];
    if (p?.type !== 'String') throw new FlagNotFoundError(`Flag parameter ${full} does not exist`);
    return { value: p.value, version: p.version };
  }

  async put(name: FlagName, value: string): Promise<FlagValue> {
    const version = this.putParameter(flagParameterName(this.prefix, name), value, 'String');
    return { value, version };
  }

  /** SecretStore: a SecureString by full parameter name. */
  async getSecure(parameterName: string): Promise<string> {
    const p = this.read().parameters[parameterName];
    if (p?.type !== 'SecureString')
      throw new FlagNotFoundError(`Secret parameter ${parameterName} does not exist`);
    return p.value;
  }

  /** Writes a parameter (a new version), as `by` (an IAM ARN: SSM's LastModifiedUser). */
  putParameter(fullName: string, value: string, type: Parameter['type'], by = LOCAL_USER): number {
    const data = this.read();
    const prev = data.parameters[fullName];
    const version = (prev?.version ?? 0) + 1;
    const at = this.now();
    data.parameters[fullName] = {
      type,
      value,
      version,
      history: [
        ...(prev?.history ?? []),
        { version, value: type === 'SecureString' ? null : value, at: at.toISOString(), by },
      ],
    };
    this.write(data);
    for (const listener of this.listeners)
      listener({ name: fullName, type, operation: prev ? 'Update' : 'Create', at });
    return version;
  }

  /** GetParameterHistory by full name; SecureString values are never kept. */
  async versions(fullName: string): Promise<ParameterVersion[]> {
    const p = this.read().parameters[fullName];
    return (p?.history ?? []).map((h) => ({
      version: h.version,
      type: p?.type ?? 'String',
      value: p?.type === 'SecureString' ? null : h.value,
      modifiedAt: new Date(h.at),
      modifiedBy: h.by ?? LOCAL_USER,
    }));
  }

  history(name: FlagName): Parameter['history'] {
    return this.read().parameters[flagParameterName(this.prefix, name)]?.history ?? [];
  }

  /** Current flag values by short name (what the rehearsal prints and the tests assert). */
  snapshot(): Record<string, string> {
    const out: Record<string, string> = {};
    const base = `${this.prefix.replace(/\/+$/, '')}/`;
    for (const [name, p] of Object.entries(this.read().parameters)) {
      if (p.type === 'String' && name.startsWith(base)) out[name.slice(base.length)] = p.value;
    }
    return out;
  }

  private read(): FileShape {
    try {
      return JSON.parse(readFileSync(this.path, 'utf8')) as FileShape;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { parameters: {} };
      throw err;
    }
  }

  private write(data: FileShape): void {
    mkdirSync(dirname(this.path), { recursive: true });
    const tmp = `${this.path}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(data, null, 2)}\n`);
    renameSync(tmp, this.path);
  }
}

/** The ParameterHistory face of a FileParameterStore (what the journal resolves events with). */
export function parameterHistoryOf(store: FileParameterStore): ParameterHistory {
  return { history: (name) => store.versions(name) };
}

/** The SecretStore face of a FileParameterStore. */
export function secretsOf(store: FileParameterStore): SecretStore {
  return { get: (name) => store.getSecure(name) };
}

/** The WatchedParameterStore face of a FileParameterStore (config rollback). */
export function watchedOf(store: FileParameterStore): WatchedParameterStore {
  return {
    get: async (name) => {
      const last = (await store.versions(name)).at(-1);
      return last ? { version: last.version, type: last.type, value: last.value } : undefined;
    },
    put: async (name, value) => {
      const last = (await store.versions(name)).at(-1);
      if (last?.type === 'SecureString') {
        throw new InvalidFlagValueError(`${name} is a SecureString: config rollback never writes one`);
      }
      return { version: store.putParameter(name, value, 'String') };
    },
  };
}
