const DURATION_UNITS_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const SIZE_UNITS: Record<string, number> = { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3, KB: 1000, MB: 1000 ** 2, GB: 1000 ** 3 };

/** Go-style durations as in Collector configs: `500ms`, `2s`, `1.5m`. Returns milliseconds. */
export function parseDuration(text: string | number): number {
  if (typeof text === 'number') return text;
  const m = /^([0-9]+(?:\.[0-9]+)?)(ns|us|ms|s|m|h)$/.exec(text);
  if (!m) throw new Error(`"${text}" is not a duration (use e.g. 500ms, 2s, 1m)`);
  return Number(m[1]) * DURATION_UNITS_MS[m[2]];
}

/** `32MiB`, `4096`, `1GiB`. Returns bytes. */
export function parseSize(text: string | number): number {
  if (typeof text === 'number') return text;
  const m = /^([0-9]+)(B|KiB|MiB|GiB|KB|MB|GB)?$/.exec(text);
  if (!m) throw new Error(`"${text}" is not a size (use e.g. 4096, 64KiB, 32MiB)`);
  return Number(m[1]) * SIZE_UNITS[m[2] ?? 'B'];
}
