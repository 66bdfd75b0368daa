import { readFile, stat } from 'node:fs/promises';
import { createConnection } from 'node:net';
import type { ContainerInfo, RuntimeName } from '../../../events';
import { BoundedMap } from '../../../pipeline/bounded-map';
import { WarnOnce, type Logger } from '../../../pipeline/logger';
import { RuntimeUnavailableError, type RuntimeEvent } from './types';

/** What every client needs from its creator. */
export interface ClientContext {
  /** Where the host's /proc is visible (`/host/proc` when the agent runs in a container). */
  hostProc: string;
  logger: Logger;
}

export { K8S_LABELS, k8sFromLabels } from './kubernetes';

/** Mount namespace inode of a host pid (`stat -L /proc/<pid>/ns/mnt`); 0 when the process is gone. */
export async function mntnsOf(hostProc: string, pid: number): Promise<number> {
  if (pid <= 0) return 0;
  try {
    return Number((await stat(`${hostProc}/${pid}/ns/mnt`, { bigint: true })).ino);
  } catch {
    return 0;
  }
}

/**
 * The cgroup of a pid as the runtime placed it: the unified (v2) path when there is one,
 * else the v1 `pids`/`memory` hierarchy's path. '' when the process is gone.
 */
export async function cgroupPathOf(hostProc: string, pid: number): Promise<string> {
  if (pid <= 0) return '';
  let text: string;
  try {
    text = await readFile(`${hostProc}/${pid}/cgroup`, 'utf8');
  } catch {
    return '';
  }
  const paths = new Map<string, string>();
  for (const line of text.split('\n')) {
    const [, controllers, cgPath] = /^\d+:([^:]*):(.*)$/.exec(line) ?? [];
    if (cgPath !== undefined) for (const c of controllers.split(',')) paths.set(c, cgPath);
  }
  return paths.get('pids') ?? paths.get('memory') ?? paths.get('') ?? '';
}

/** Fills pid-derived fields (mntns, cgroup path) of a container a client has just described. */
export async function withPidDetails(hostProc: string, info: ContainerInfo): Promise<ContainerInfo> {
  if (info.pid > 0) {
    [info.mntns, info.cgroupPath] = await Promise.all([
      mntnsOf(hostProc, info.pid),
      info.cgroupPath ? info.cgroupPath : cgroupPathOf(hostProc, info.pid),
    ]);
  }
  return info;
}

/** Exponential backoff with jitter, reset after a success. */
export class Backoff {
  private attempt = 0;
  constructor(
    private readonly initialMs = 250,
    private readonly maxMs = 30_000,
  ) {}
  next(): number {
    const base = Math.min(this.maxMs, this.initialMs * 2 ** this.attempt);
    this.attempt = Math.min(this.attempt + 1, 30);
    return base / 2 + Math.random() * (base / 2);
  }
  reset(): void {
    this.attempt = 0;
  }
}

/** Resolves after `ms` or as soon as `signal` aborts; the timer never holds the process open. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    timer.unref();
    signal.addEventListener('abort', done, { once: true });
  });
}

/**
 * Last known lifecycle state per container id, so a client reports each start and exit once:
 * a replayed or re-listed `started` for a container already running is dropped, and a re-list
 * after reconnect or a poll turns into the events that were missed.
 */
export class LifecycleTracker {
  private readonly running = new Map<string, number>();

  /** Returns whether `event` is news (and records it). */
  accept(event: RuntimeEvent): boolean {
    if (event.kind === 'started') {
      const pid = event.pid ?? event.container?.pid ?? 0;
      if (this.running.has(event.id) && this.running.get(event.id) === pid) return false;
      this.running.set(event.id, pid);
      return true;
    }
    if (event.kind === 'exited' || event.kind === 'deleted') {
      const known = this.running.delete(event.id);
      return event.kind === 'deleted' || known;
    }
    return true;
  }

  /** What a full listing says happened since: starts for new running containers, exits for vanished ones (not recorded until accepted). */
  diff(runtime: RuntimeName, containers: ContainerInfo[]): RuntimeEvent[] {
    const events: RuntimeEvent[] = [];
    const seen = new Set<string>();
    for (const c of containers) {
      if (c.state !== 'running' && c.state !== 'paused') continue;
      seen.add(c.id);
      if (this.running.get(c.id) !== c.pid || !this.running.has(c.id))
        events.push({ kind: 'started', runtime, id: c.id, container: c, pid: c.pid });
    }
    for (const id of this.running.keys()) if (!seen.has(id)) events.push({ kind: 'exited', runtime, id });
    return events;
  }

  /** Seeds the known set without producing events (the caller listed before watching). */
  seed(containers: ContainerInfo[]): void {
    for (const c of containers) if (c.state === 'running' || c.state === 'paused') this.running.set(c.id, c.pid);
  }
}

/** An event, or the promise of one while the client fetches its details (undefined = nothing to report). */
export type PendingEvent = RuntimeEvent | Promise<RuntimeEvent | undefined>;

/**
 * State every client shares: health, the one-warning-per-outage rule, and the watch loop that
 * reconnects with backoff and resyncs. Subclasses provide `list`, `get` and one stream attempt.
 */
export abstract class RuntimeClientBase {
  abstract readonly runtime: RuntimeName;
  abstract readonly endpoint: string;
  protected readonly logger: Logger;
  protected readonly hostProc: string;
  protected readonly abort = new AbortController();
  private readonly aborted = new Promise<void>((resolve) => this.abort.signal.addEventListener('abort', () => resolve(), { once: true }));
  protected readonly tracker = new LifecycleTracker();
  private readonly warnOnce: WarnOnce;
  private isHealthy = false;
  private wasWarned = false;
  private watching = false;
  private watchDone: Promise<void> = Promise.resolve();

  constructor(ctx: ClientContext) {
    this.logger = ctx.logger;
    this.hostProc = ctx.hostProc;
    this.warnOnce = new WarnOnce(ctx.logger);
  }

  abstract list(): Promise<ContainerInfo[]>;

  healthy(): boolean {
    return this.isHealthy;
  }

  /** Records a successful exchange; after an outage, says so once. */
  protected markHealthy(): void {
    if (!this.isHealthy && this.wasWarned) this.logger.info(`${this.runtime} at ${this.endpoint}: reachable again`);
    this.isHealthy = true;
    this.wasWarned = false;
    this.warnOnce.reset('unreachable');
  }

  /** Records a failure and turns it into the error callers see; warns once per outage. */
  protected async markUnhealthy(err: unknown): Promise<RuntimeUnavailableError> {
    this.isHealthy = false;
    const error =
      err instanceof RuntimeUnavailableError ? err : new RuntimeUnavailableError(this.runtime, this.endpoint, await this.describe(err));
    this.wasWarned = true;
    this.warnOnce.warn(
      'unreachable',
      `${error.message}; retrying with backoff (set processors.container_enrichment.runtimes.${this.runtime}.enabled: false to stop using it)`,
    );
    return error;
  }

  /**
   * Human wording of a failure, with what to do about it. Transport errors are vague (gRPC says
   * "No connection established"), so the socket is probed once to name the real cause.
   */
  protected async describe(err: unknown): Promise<string> {
    const e = err as { code?: string | number; message?: string; details?: string };
    const text = e?.details || e?.message || String(err);
    const transport =
      typeof e?.code === 'string' ||
      e?.code === 14 /* gRPC UNAVAILABLE */ ||
      /ECONN|EACCES|ENOENT|EPIPE|socket hang up|Connection dropped/.test(text);
    const cause = transport && !this.endpoint.includes(':') ? await probeSocket(this.endpoint) : typeof e?.code === 'string' ? e.code : '';
    switch (cause) {
      case 'EACCES':
        return 'permission denied (run as root or mount the socket read-write)';
      case 'ECONNREFUSED':
        return 'connection refused (the daemon is not running or not listening on this socket)';
      case 'ENOENT':
        return 'socket not found (is the daemon running? check the socket path)';
      case 'ENOTSOCK':
        return 'not a unix socket (check the socket path)';
    }
    if (/Connection dropped|socket hang up|ECONNRESET|EPIPE/i.test(text)) return 'connection lost (the daemon stopped or restarted)';
    return text;
  }

  watch(onEvent: (event: RuntimeEvent) => void, onResync?: () => void): void {
    if (this.watching) throw new Error(`${this.runtime} client at ${this.endpoint}: watch() is already running`);
    this.watching = true;
    this.watchDone = this.watchLoop(onEvent, onResync);
  }

  /**
   * One watch connection: resolves or rejects when it ends. Must await `established()` once
   * the stream is up, before handling events, so a resync can run. Events go to `emit`, which
   * keeps their order even when a client has to fetch details (a promise) before reporting.
   */
  protected abstract streamOnce(emit: (event: PendingEvent) => void, established: () => Promise<void>): Promise<void>;

  private async watchLoop(onEvent: (event: RuntimeEvent) => void, onResync?: () => void): Promise<void> {
    const backoff = new Backoff();
    // The caller listed before watching; only a later (re)connection can have missed events.
    let mustReconcile = false;
    // Events are delivered strictly in arrival order, even those still fetching details.
    let queue = Promise.resolve();
    const enqueue = (step: () => unknown) => {
      queue = queue.then(step).then(undefined, (err: unknown) => this.logger.debug(`${this.runtime}: dropped an event: ${String(err)}`));
    };
    const emit = (pending: PendingEvent) =>
      enqueue(async () => {
        const ev = await pending;
        if (ev && !this.abort.signal.aborted && this.tracker.accept(ev)) onEvent(ev);
      });
    const established = async () => {
      // Listing after the stream is up means nothing falls between the list and the stream.
      // list() marks the client healthy (or throws, ending this attempt).
      const containers = await this.list();
      backoff.reset();
      if (!mustReconcile) return this.tracker.seed(containers);
      for (const ev of this.tracker.diff(this.runtime, containers)) emit(ev);
      enqueue(() => onResync?.());
    };
    while (!this.abort.signal.aborted) {
      try {
        // close() must not wait for a connection attempt's own timeout.
        await Promise.race([this.streamOnce(emit, established), this.aborted]);
      } catch (err) {
        if (this.abort.signal.aborted) break;
        await this.markUnhealthy(err);
      }
      mustReconcile = true;
      if (this.abort.signal.aborted) break;
      await sleep(backoff.next(), this.abort.signal);
    }
    await queue;
  }

  /**
   * A watch "stream" for runtimes without events: re-list every `intervalMs` and report the
   * difference. A failed listing ends it, so the caller's backoff and resync apply.
   */
  protected async pollForChanges(intervalMs: number, emit: (event: PendingEvent) => void, established: () => Promise<void>): Promise<void> {
    await established();
    while (!this.abort.signal.aborted) {
      await sleep(intervalMs, this.abort.signal);
      if (this.abort.signal.aborted) return;
      for (const ev of this.tracker.diff(this.runtime, await this.list())) emit(ev);
    }
  }

  async close(): Promise<void> {
    this.abort.abort();
    await this.closeTransport();
    await this.watchDone;
  }

  protected abstract closeTransport(): Promise<void>;
}

/**
 * Answers to a lookup many containers share (an image's digests): concurrent asks share one call,
 * an answer is trusted for `ttlMs` (a tag can be re-pointed), at most `max` keys are kept (the
 * oldest goes first, counted in `evictions`), and a failed lookup is not remembered.
 */
export class SharedLookups<V> {
  private readonly answers: BoundedMap<string, Promise<V>>;

  constructor(max: number, ttlMs: number) {
    this.answers = new BoundedMap({ max, ttlMs });
  }

  get evictions(): number {
    return this.answers.evictions;
  }

  get(key: string, lookup: () => Promise<V>): Promise<V> {
    const cached = this.answers.get(key);
    if (cached !== undefined) return cached;
    const value = lookup();
    this.answers.set(key, value);
    value.catch(() => this.answers.deleteIf(key, value));
    return value;
  }
}

/** Containers remembered per client after the runtime has forgotten them; the oldest goes when full. */
const RECENT_CONTAINERS_MAX = 4096;
/** Long enough for the records of a container's last moments to be enriched, however late they are asked about. */
const RECENT_CONTAINERS_TTL_MS = 5 * 60_000;

/**
 * What a runtime last said about each container, so `get(id)` still answers once the runtime has
 * removed it: a short-lived container (`docker run --rm`, `ctr run --rm`, a Job's pod) is often
 * gone before its first records are enriched.
 */
export class RecentContainers {
  private readonly memory = new BoundedMap<string, ContainerInfo>({ max: RECENT_CONTAINERS_MAX, ttlMs: RECENT_CONTAINERS_TTL_MS });

  get evictions(): number {
    return this.memory.evictions;
  }

  /** A description from the runtime's own answer replaces what was known. */
  remember(info: ContainerInfo): void {
    if (!info.sandbox) this.memory.set(info.id, info);
  }

  /**
   * The runtime mentioned `id` (an event): what is known stays fresh from now on; `thinner`, what the
   * event itself says, counts only where nothing is known, as a fuller answer says more.
   */
  refresh(id: string, thinner?: ContainerInfo): void {
    const known = this.memory.get(id) ?? thinner;
    if (known) this.memory.set(id, known);
  }

  /**
   * The last description of a container the runtime no longer has: it is stopped whatever it was
   * last seen doing, and its pid and mount namespace may already be another process's.
   */
  recall(id: string): ContainerInfo | undefined {
    const info = this.memory.get(id);
    return info && { ...info, state: 'stopped', pid: 0, mntns: 0 };
  }
}

/** Maps with at most `limit` calls in flight (one inspect per container must not open hundreds of requests). */
export async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** Connects to a unix socket once: '' when it accepts, else the errno code (ECONNREFUSED, ENOENT, …). */
export function probeSocket(socketPath: string, timeoutMs = 1_000): Promise<string> {
  return new Promise((resolve) => {
    const sock = createConnection({ path: socketPath });
    const done = (code: string) => {
      sock.destroy();
      resolve(code);
    };
    sock.setTimeout(timeoutMs, () => done('ETIMEDOUT'));
    sock.once('connect', () => done(''));
    sock.once('error', (err: NodeJS.ErrnoException) => done(err.code ?? 'EIO'));
  });
}
