import { type ChildProcess, fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { OtlpSink } from '../../test/harness/otlp-sink';

const CLK_TCK = 100;

/** utime and stime of a process, seconds. */
export function procCpu(pid: number): { user: number; system: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command (which may contain spaces) start after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 (1-based): indices 11 and 12 here.
  return { user: Number(fields[11]) / CLK_TCK, system: Number(fields[12]) / CLK_TCK };
}

/** utime + stime of a process, seconds. */
export function procCpuSeconds(pid: number): number {
  const c = procCpu(pid);
  return c.user + c.system;
}

/** Where an exporter sends: a count of the records received, and the CPU the sink spent. */
export interface Sink {
  address: string;
  reset(): Promise<void>;
  count(): Promise<number>;
  cpuSeconds(): number;
  stop(): void;
}

/**
 * `http2` (default): bench/e2e/sink.ts in a process of its own; `grpc-js`:
 * test/harness/otlp-sink.ts (`decode: false`) in this one (its CPU is then
 * this whole process's).
 */
export async function startSink(kind = process.env.SINK ?? 'http2'): Promise<Sink> {
  if (kind === 'grpc-js') {
    const sink = await new OtlpSink({ decode: false }).start();
    return {
      address: sink.address,
      reset: async () => void (sink.records = 0),
      count: async () => sink.records,
      cpuSeconds: () => {
        const c = process.cpuUsage();
        return (c.user + c.system) / 1e6;
      },
      stop: () => sink.stop(),
    };
  }
  if (kind !== 'http2') throw new Error(`SINK=${kind}: one of http2, grpc-js`);
  const child: ChildProcess = fork(path.join(__dirname, 'sink.js'), [], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
  const first = await readline.createInterface({ input: child.stdout! })[Symbol.asyncIterator]().next();
  const { port } = JSON.parse(first.value as string) as { port: number };
  const ask = (cmd: string) =>
    new Promise<number>((resolve) => {
      child.once('message', (m: { records: number }) => resolve(m.records));
      child.send({ cmd });
    });
  return {
    address: `127.0.0.1:${port}`,
    reset: async () => void (await ask('reset')),
    count: () => ask('count'),
    cpuSeconds: () => procCpuSeconds(child.pid!),
    stop: () => child.kill(),
  };
}
