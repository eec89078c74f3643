/**
 * Seed 003's Memory & Context endpoints on the reference API, behind the `features/memory-context`
 * flag. The flag is read per request through a short cache (FEATURE_FLAG_CACHE_MS), so turning
 * it off reaches every request within that time, without a restart: what makes "disabled in
 * under a minute" hold. Locally the flag is read from the rehearsal's parameter file
 * (FEATURE_FLAG_FILE); on AWS the app reads the SSM parameter the same way (GetParameter,
 * cached for at most 15 s). A malformed value turns the feature off and is reported, never read as "on".
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import Database from 'better-sqlite3';
import { z } from 'zod';
import {
  isEnabledFor,
  type MemoryContextFlag,
  ProjectId,
  parseMemoryContextFlag,
} from '../../functions/shared/memory-context';
import { readJson, send } from './http';

interface FlagState {
  readonly flag: MemoryContextFlag | null;
  readonly version: number | null;
  readonly error: string | null;
}

/** Reads the flag parameter at most once per `ttlMs`. */
class CachedFlag {
  private state: FlagState | undefined;
  private readAt = 0;
  constructor(
    private readonly read: () => FlagState,
    readonly ttlMs: number,
  ) {}

  get(): FlagState {
    const now = Date.now();
    if (!this.state || now - this.readAt >= this.ttlMs) {
      this.state = this.read();
      this.readAt = now;
    }
    return this.state;
  }
}

/** The flag from the rehearsal's parameter file (the local SSM), by full parameter name. */
function fromParameterFile(file: string, name: string): () => FlagState {
  return () => {
    let p: { type?: string; value?: string; version?: number } | undefined;
    try {
      p = (JSON.parse(readFileSync(file, 'utf8')) as { parameters: Record<string, typeof p> }).parameters[
        name
      ];
    } catch (err) {
      return { flag: null, version: null, error: `flag store unreadable: ${(err as Error).message}` };
    }
    if (p?.type !== 'String' || typeof p.value !== 'string')
      return { flag: null, version: null, error: `flag parameter ${name} does not exist` };
    try {
      return { flag: parseMemoryContextFlag(p.value), version: p.version ?? null, error: null };
    } catch (err) {
      return { flag: null, version: p.version ?? null, error: (err as Error).message };
    }
  };
}

const NewItem = z.object({
  project_id: ProjectId,
  type: z.string().min(1).max(32),
  content: z.string().min(1).max(10_000),
  tags: z.array(z.string().max(64)).max(32).default([]),
  confidence: z.number().min(0).max(1).default(0.5),
  status: z.string().min(1).max(32).default('active'),
  metadata: z.record(z.string(), z.unknown()).default({}),
});
const Preview = z.object({
  project_id: ProjectId,
  budget_tokens: z.number().int().min(1).max(200_000).default(4000),
});

interface ItemRow {
  id: string;
  project_id: string;
  type: string;
  content: string;
  tags: string;
  confidence: number;
  status: string;
  metadata: string;
  created_at: string;
}

/** Memory items in the API's SQLite database; the table is created on the first write. */
class MemoryItems {
  private db: Database.Database | undefined;
  constructor(private readonly path: string) {}

  private open(create: boolean): Database.Database | undefined {
    if (!this.db) {
      this.db = new Database(this.path);
      this.db.pragma('busy_timeout = 5000');
    }
    const exists = this.db
      .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'memory_items'")
      .get();
    if (!exists && !create) return undefined;
    if (!exists) {
      this.db.exec(
        'CREATE TABLE memory_items (id TEXT PRIMARY KEY, project_id TEXT NOT NULL, type TEXT NOT NULL, content TEXT NOT NULL, tags TEXT NOT NULL, confidence REAL NOT NULL, status TEXT NOT NULL, metadata TEXT NOT NULL, created_at TEXT NOT NULL)',
      );
    }
    return this.db;
  }

  add(item: z.infer<typeof NewItem>) {
    const row: ItemRow = {
      id: randomUUID(),
      project_id: item.project_id,
      type: item.type,
      content: item.content,
      tags: JSON.stringify(item.tags),
      confidence: item.confidence,
      status: item.status,
      metadata: JSON.stringify(item.metadata),
      created_at: new Date().toISOString(),
    };
    this.open(true)
      ?.prepare(
        'INSERT INTO memory_items (id, project_id, type, content, tags, confidence, status, metadata, created_at) VALUES (@id, @project_id, @type, @content, @tags, @confidence, @status, @metadata, @created_at)',
      )
      .run(row);
    return view(row);
  }

  list(projectId: string) {
    const db = this.open(false);
    if (!db) return [];
    const rows = db
      .prepare('SELECT * FROM memory_items WHERE project_id = ? ORDER BY confidence DESC, created_at DESC')
      .all(projectId) as ItemRow[];
    return rows.map(view);
  }
}

function view(row: ItemRow) {
  return {
    id: row.id,
    project_id: row.project_id,
    type: row.type,
    content: row.content,
    tags: JSON.parse(row.tags) as string[],
    confidence: row.confidence,
    status: row.status,
    metadata: JSON.parse(row.metadata) as Record<string, unknown>,
    created_at: row.created_at,
  };
}

/**
 * The routes, or a function answering `false` for paths it does not own. With no flag configured
 * (FEATURE_FLAG_FILE unset) the feature is simply off.
 */
export function memoryContextRoutes(opts: {
  readonly env: NodeJS.ProcessEnv;
  readonly dataFile: string;
  readonly maintenance: boolean;
}): (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<boolean> {
  const file = opts.env.FEATURE_FLAG_FILE;
  const name = opts.env.MEMORY_CONTEXT_FLAG_PARAMETER;
  const ttl = Number(opts.env.FEATURE_FLAG_CACHE_MS ?? 5_000);
  const flag = new CachedFlag(
    file && name ? fromParameterFile(file, name) : () => ({ flag: null, version: null, error: null }),
    Number.isFinite(ttl) && ttl >= 0 ? ttl : 5_000,
  );
  const items = new MemoryItems(opts.dataFile);

  /** Answers a refusal, or returns the flag when the feature is on for the caller. */
  const gate = (res: ServerResponse, projectId: string): boolean => {
    const state = flag.get();
    if (state.error) {
      send(res, 503, { error: 'memory context unavailable: its flag is unreadable', detail: state.error });
      return false;
    }
    if (!state.flag?.enabled) {
      send(res, 404, { error: 'memory context is disabled' });
      return false;
    }
    if (!isEnabledFor(state.flag, projectId)) {
      send(res, 403, { error: 'memory context is not enabled for this project' });
      return false;
    }
    if (opts.maintenance) {
      send(res, 503, { error: 'maintenance mode' });
      return false;
    }
    return true;
  };
  /** Refuses before looking at the body when the feature is off for everyone. */
  const globallyOff = (res: ServerResponse): boolean => {
    const state = flag.get();
    if (state.error || !state.flag?.enabled) return !gate(res, '-');
    return false;
  };

  return async (req, res, url) => {
    const path = url.pathname;
    if (req.method === 'GET' && path === '/api/v1/config') {
      const state = flag.get();
      const project = url.searchParams.get('project_id');
      send(res, 200, {
        memory_context_enabled: Boolean(state.flag?.enabled),
        memory_context: {
          enabled: Boolean(state.flag?.enabled),
          percentage: state.flag?.percentage ?? null,
          allow_list_size: state.flag?.allowList.length ?? 0,
          flag_version: state.version,
          flag_error: state.error,
          cache_ms: flag.ttlMs,
        },
        ...(project
          ? { memory_context_enabled_for_project: state.flag ? isEnabledFor(state.flag, project) : false }
          : {}),
      });
      return true;
    }
    if (path === '/api/v1/memory-items' && req.method === 'POST') {
      if (globallyOff(res)) return true;
      const parsed = NewItem.safeParse(await readJson(req));
      if (!parsed.success) {
        send(res, 400, {
          error: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '),
        });
        return true;
      }
      if (gate(res, parsed.data.project_id)) send(res, 201, items.add(parsed.data));
      return true;
    }
    if (path === '/api/v1/memory-items' && req.method === 'GET') {
      if (globallyOff(res)) return true;
      const project = ProjectId.safeParse(url.searchParams.get('project_id'));
      if (!project.success) {
        send(res, 400, { error: 'project_id required' });
        return true;
      }
      if (gate(res, project.data))
        send(res, 200, { project_id: project.data, items: items.list(project.data) });
      return true;
    }
    if (path === '/api/v1/context-packs/preview' && req.method === 'POST') {
      if (globallyOff(res)) return true;
      const parsed = Preview.safeParse(await readJson(req));
      if (!parsed.success) {
        send(res, 400, {
          error: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '),
        });
        return true;
      }
      if (!gate(res, parsed.data.project_id)) return true;
      const pack: ReturnType<typeof view>[] = [];
      let tokens = 0;
      for (const item of items.list(parsed.data.project_id)) {
        const cost = Math.ceil(item.content.length / 4);
        if (tokens + cost > parsed.data.budget_tokens) break;
        pack.push(item);
        tokens += cost;
      }
      send(res, 200, {
        project_id: parsed.data.project_id,
        budget_tokens: parsed.data.budget_tokens,
        estimated_tokens: tokens,
        items: pack,
      });
      return true;
    }
    return false;
  };
}
