/**
 * V8 settings of the long-running agent (`run`). V8 grows its young
 * generation under load (16 → 64 MiB of new space at 100 k records/s within a
 * few minutes: ~45 MiB more RSS) though what the agent allocates per second
 * fits a small one; capped, the agent stays under its RSS bound at no cost in
 * CPU (docs/benchmarks.md, memory). Heap flags count only when node starts,
 * so `run` starts this process again with them (same pid: execve) unless they
 * were given already, in node's options or NODE_OPTIONS.
 */
export const AGENT_V8_FLAGS: readonly string[] = ['--max-semi-space-size=8'];

const flagName = (arg: string) => arg.split('=')[0].replace(/_/g, '-');

/** AGENT_V8_FLAGS not among `given` (node's own arguments and NODE_OPTIONS, by flag name). */
export function missingAgentFlags(given: readonly string[]): string[] {
  const names = new Set(given.map(flagName));
  return AGENT_V8_FLAGS.filter((f) => !names.has(flagName(f)));
}

/**
 * Replaces this process with node started with the missing flags and the same
 * arguments; returns only when nothing is missing (undefined) or node cannot
 * (no process.execve, an IPC channel to a parent that a new image would lose,
 * execve failed): then why.
 */
export function execWithAgentFlags(): string | undefined {
  const given = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/).filter(Boolean)];
  const missing = missingAgentFlags(given);
  if (missing.length === 0) return undefined;
  const why = `V8 flags ${missing.join(' ')} not applied (start node with them to bound the young generation)`;
  if (typeof process.execve !== 'function') return `${why}: this node has no process.execve`;
  if (process.env.NODE_CHANNEL_FD !== undefined) return `${why}: started with an IPC channel`;
  try {
    process.execve(process.execPath, [process.execPath, ...missing, ...process.execArgv, ...process.argv.slice(1)], process.env);
  } catch (err) {
    return `${why}: ${(err as Error).message}`;
  }
}
