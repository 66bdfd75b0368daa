import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import type { ContainerInfo } from '../../src/events';
import { createLogger, type Logger } from '../../src/pipeline/logger';
import type { RuntimeClient, RuntimeEvent } from '../../src/processors/container-enrichment/runtime';
import type { RuntimesConfig } from '../../src/processors/container-enrichment/runtime';
import { CLI, NODE } from '../harness/paths';

export interface Recorded extends RuntimeEvent {
  at: number;
}

/** Collects a client's watch() events and resyncs, and waits for particular ones. */
export class EventRecorder {
  readonly events: Recorded[] = [];
  resyncs = 0;

  constructor(client: RuntimeClient) {
    client.watch(
      (ev) => this.events.push({ ...ev, at: Date.now() }),
      () => this.resyncs++,
    );
  }

  /** Resolves with the first matching event at or after index `from`; rejects after `timeoutMs`. */
  async next(kind: RuntimeEvent['kind'], id: string, timeoutMs: number, from = 0): Promise<Recorded> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.events.slice(from).find((e) => e.kind === kind && e.id === id);
      if (hit) return hit;
      if (Date.now() > deadline) {
        throw new Error(
          `no ${kind} event for ${id} within ${timeoutMs} ms; got ${JSON.stringify(this.events.map((e) => [e.kind, e.id.slice(0, 12)]))}`,
        );
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  of(id: string): string[] {
    return this.events.filter((e) => e.id === id).map((e) => e.kind);
  }
}

/** A unix socket file nobody listens on: connecting to it is refused (a crashed daemon's leftover). */
export function refusingSocket(file: string): void {
  mkdirSync(path.dirname(file), { recursive: true });
  execFileSync('python3', ['-c', 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])', file]);
}

/** A logger whose lines tests can inspect. */
export function capturingLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  return { logger: createLogger('debug', 'test', (l) => lines.push(l)), lines };
}

const execFileAsync = promisify(execFile);

/** Runs `containers --json` with a config that enables exactly the given runtimes. */
export async function containersJson(dir: string, runtimes: RuntimesConfig): Promise<ContainerInfo[]> {
  const all: RuntimesConfig = {
    containerd: { enabled: false },
    cri: { enabled: false },
    docker: { enabled: false },
    podman: { enabled: false },
    lxc: { enabled: false },
  };
  const file = path.join(dir, 'containers-cli.yaml');
  writeFileSync(
    file,
    JSON.stringify({
      receivers: { ebpf: {} },
      processors: { container_enrichment: { runtimes: { ...all, ...runtimes } } },
      exporters: { file: { path: '-' } },
      service: { pipelines: { logs: { receivers: ['ebpf'], processors: ['container_enrichment'], exporters: ['file'] } } },
    }),
  );
  // The real binary (dist/ is built by `npm test`'s set-up), as a user runs it.
  const { stdout } = await execFileAsync(NODE, [CLI, 'containers', '--json', '--config', file], {
    encoding: 'utf8',
  });
  return JSON.parse(stdout) as ContainerInfo[];
}

/** Mount namespace inode of a pid, read independently of the code under test. */
export const mntns = (pid: number) => Number(statSync(`/proc/${pid}/ns/mnt`, { bigint: true }).ino);
export const uniq = (prefix: string) => `${prefix}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;

export async function waitUntil(cond: () => boolean, timeoutMs: number, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`${what} not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** watch() is connected (and has taken its baseline listing). */
export const waitHealthy = (client: { healthy(): boolean }) => waitUntil(() => client.healthy(), 10_000, 'client healthy');

/** What every runtime must report for a running container it started. */
export function expectContainer(
  c: ContainerInfo | undefined,
  want: { id: string; name: string; image: string; pid: number; runtime: string },
): void {
  expect(c).toBeDefined();
  expect(c!.id).toBe(want.id);
  expect(c!.name).toBe(want.name);
  expect(c!.runtime).toBe(want.runtime);
  expect(c!.image.name).toBe(want.image);
  expect(c!.state).toBe('running');
  expect(c!.pid).toBe(want.pid);
  expect(c!.pid).toBeGreaterThan(0);
  expect(c!.mntns).toBe(mntns(want.pid));
  // A container has its own mount namespace, never the host's (ours).
  expect(c!.mntns).not.toBe(mntns(process.pid));
  expect(c!.sandbox).toBe(false);
}
