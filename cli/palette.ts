/**
 * The one colour helper of the CLI and the rehearsal. Colour is on for a terminal unless
 * `NO_COLOR` is set (https://no-color.org: any non-empty value) or `--no-color` is given;
 * `FORCE_COLOR` (any value but `0`) turns it on for a pipe, e.g. a CI log that renders ANSI.
 */
export type Palette = Record<'bold' | 'dim' | 'green' | 'red' | 'yellow' | 'cyan', (s: string) => string>;

export function useColor(o: {
  readonly flag?: boolean;
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly isTTY?: boolean;
}): boolean {
  const env = o.env ?? process.env;
  if (o.flag === false) return false;
  if (env.NO_COLOR) return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '') return env.FORCE_COLOR !== '0';
  return o.isTTY === true;
}

export function palette(on: boolean): Palette {
  const wrap = (code: number) => (s: string) => (on ? `\u001b[${code}m${s}\u001b[0m` : s);
  return { bold: wrap(1), dim: wrap(2), green: wrap(32), red: wrap(31), yellow: wrap(33), cyan: wrap(36) };
}
