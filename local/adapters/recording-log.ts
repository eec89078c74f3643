import type { Log } from '../../functions/shared/ports';

export interface LogEntry {
  readonly level: 'INFO' | 'WARN' | 'ERROR';
  readonly message: string;
  readonly step?: string;
  readonly execution?: string;
  readonly extra?: Record<string, unknown>;
  readonly at: string;
}

/** Collects structured log lines (the rehearsal writes them to a file; tests scan them). */
export class RecordingLog {
  readonly entries: LogEntry[] = [];

  forStep(step: string, execution?: string): Log {
    const add = (level: LogEntry['level']) => (message: string, extra?: Record<string, unknown>) => {
      this.entries.push({ level, message, step, execution, extra, at: new Date().toISOString() });
    };
    return { info: add('INFO'), warn: add('WARN'), error: add('ERROR') };
  }
}
