import { randomUUID } from 'node:crypto';
import Database from 'better-sqlite3';

export interface Memory {
  readonly id: string;
  readonly text: string;
  readonly createdAt: string;
}

/**
 * The reference stack's memory store: a SQLite database in WAL mode (one of the memory stack's
 * "SQLite stores"), so it is a real live database that backups and restores act on. Recall is a
 * word-overlap score, enough to find a marker just written.
 */
export class MemoryStore {
  private readonly db: Database.Database;
  constructor(path: string) {
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(
      'CREATE TABLE IF NOT EXISTS memories (id TEXT PRIMARY KEY, text TEXT NOT NULL, created_at TEXT NOT NULL)',
    );
    const check = this.db.pragma('quick_check', { simple: true });
    if (check !== 'ok') throw new Error(`memory store ${path} failed quick_check: ${String(check)}`);
  }

  add(text: string): Memory {
    const memory = { id: randomUUID(), text, createdAt: new Date().toISOString() };
    this.db
      .prepare('INSERT INTO memories (id, text, created_at) VALUES (?, ?, ?)')
      .run(memory.id, text, memory.createdAt);
    return memory;
  }

  recall(query: string, k: number): (Memory & { score: number })[] {
    const terms = tokens(query);
    if (!terms.length) return [];
    const rows = this.db.prepare('SELECT id, text, created_at AS createdAt FROM memories').all() as Memory[];
    return rows
      .map((m) => {
        const words = tokens(m.text);
        const hits = terms.filter((t) => words.includes(t)).length;
        return { ...m, score: hits / terms.length + (m.text === query ? 1 : 0) };
      })
      .filter((m) => m.score > 0)
      .sort((a, b) => b.score - a.score)
      .slice(0, k);
  }

  get size(): number {
    return (this.db.prepare('SELECT count(*) AS n FROM memories').get() as { n: number }).n;
  }

  close(): void {
    this.db.close();
  }
}

function tokens(text: string): string[] {
  return text
    .toLowerCase()
    .split(/[^a-z0-9-]+/)
    .filter(Boolean);
}
