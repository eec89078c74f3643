import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';

export interface Memory {
  readonly id: string;
  readonly text: string;
  readonly createdAt: string;
}

/**
 * A tiny durable memory store (one JSON file, written atomically) with word-overlap recall.
 * Enough for the reference stack: memories survive process restarts, as a real store's would.
 */
export class MemoryFile {
  private memories: Memory[];
  constructor(private readonly path: string) {
    this.memories = existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as Memory[]) : [];
  }

  add(text: string): Memory {
    const memory = { id: randomUUID(), text, createdAt: new Date().toISOString() };
    this.memories.push(memory);
    const tmp = `${this.path}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.memories));
    renameSync(tmp, this.path);
    return memory;
  }

  recall(query: string, k: number): (Memory & { score: number })[] {
    const terms = tokens(query);
    return this.memories
      .map((m) => {
        const words = tokens(m.text);
        const hits = terms.filter((t) => words.includes(t)).length;
        const exact = m.text === query ? 1 : 0;
        return { ...m, score: terms.length ? hits / terms.length + exact : 0 };
      })
      .filter((m) => m.score > 0)
      .sort((a, b) => b.score - a.score)
      .slice(0, k);
  }

  get size(): number {
    return this.memories.length;
  }
}

function tokens(text: string): string[] {
  return text
    .toLowerCase()
    .split(/[^a-z0-9-]+/)
    .filter(Boolean);
}
