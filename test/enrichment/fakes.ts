/**
 * In-memory stand-ins for what the enrichment processor talks to (runtime
 * clients, pinned maps, procfs, the cgroup tree), for unit tests of its logic. The real ones are
 * exercised by the acceptance tests against real daemons and real BPF maps.
 */
import { Registry } from 'prom-client';
import { BootClock, type ContainerInfo, EventBatch, encodeRecords, type RecordSpec, type RuntimeName } from '../../src/events';
import type { ComponentSettings, LogsConsumer } from '../../src/pipeline/component';
import type { Logger } from '../../src/pipeline/logger';
import { StageCounters } from '../../src/pipeline/telemetry';
import { decodeContainerValue, encodeContainerValue } from '../../src/native';
import type { ContainersMapEntry, PinnedContainersMap } from '../../src/native/types';
import { type RuntimeClient, type RuntimeEvent, RuntimeUnavailableError } from '../../src/processors/container-enrichment/runtime/types';
import type { ContainerHierarchy } from '../../src/host/cgroups';
import type { CgroupTree, EnrichmentDeps } from '../../src/processors/container-enrichment/processor';
import type { ProcFs } from '../../src/processors/container-enrichment/procfs';
import { pass } from '../harness/time';

export function container(id: string, mntns: number, extra: Partial<ContainerInfo> = {}): ContainerInfo {
  return {
    id,
    name: `name-${id}`,
    runtime: 'docker',
    state: 'running',
    pid: 0,
    mntns,
    cgroupPath: '',
    image: { name: `busybox:${id}`, id: '', digest: '' },
    labels: {},
    sandbox: false,
    startedAt: '',
    ...extra,
  };
}

export class FakeRuntimeClient implements RuntimeClient {
  readonly containers = new Map<string, ContainerInfo>();
  private onEvent: ((e: RuntimeEvent) => void) | undefined;
  unreachable = false;
  closed = false;
  getCalls = 0;
  /** Set to give the fake a bounded cache's eviction count, as containerd's client has. */
  cacheEvictions?: () => number;

  constructor(
    readonly runtime: RuntimeName = 'docker',
    readonly endpoint = '/run/fake.sock',
  ) {}

  async list(): Promise<ContainerInfo[]> {
    if (this.unreachable) throw new RuntimeUnavailableError(this.runtime, this.endpoint, 'connection refused');
    return [...this.containers.values()];
  }
  /** While set, get() answers only once it resolves (a slow daemon). */
  getGate: Promise<void> | undefined;

  async get(id: string): Promise<ContainerInfo | undefined> {
    this.getCalls++;
    await this.getGate;
    return this.containers.get(id);
  }
  watch(onEvent: (e: RuntimeEvent) => void): void {
    this.onEvent = onEvent;
  }
  healthy(): boolean {
    return !this.unreachable;
  }
  async close(): Promise<void> {
    this.closed = true;
  }

  /** The runtime starts a container and, unless `silent`, tells its watchers. */
  start(info: ContainerInfo, silent = false): void {
    this.containers.set(info.id, info);
    if (!silent) this.onEvent?.({ kind: 'started', runtime: this.runtime, id: info.id, container: info });
  }
  stop(id: string): void {
    this.containers.delete(id);
    this.onEvent?.({ kind: 'exited', runtime: this.runtime, id });
  }
  emit(event: RuntimeEvent): void {
    this.onEvent?.(event);
  }
}

export class FakePinnedMap implements PinnedContainersMap {
  readonly data = new Map<number, ContainersMapEntry>();
  closed = false;
  constructor(
    readonly path: string,
    private readonly maxEntries = 1024,
  ) {}
  entries(): ContainersMapEntry[] {
    return [...this.data.values()];
  }
  lookup(mntns: number): ContainersMapEntry | undefined {
    return this.data.get(mntns);
  }
  update(entry: ContainersMapEntry): void {
    if (!this.data.has(entry.mntns) && this.data.size >= this.maxEntries) throw new Error('map full (E2BIG)');
    // Stored as the kernel map would hold it: four NUL-terminated char[256].
    this.data.set(entry.mntns, decodeContainerValue(entry.mntns, encodeContainerValue(entry)));
  }
  delete(mntns: number): boolean {
    return this.data.delete(mntns);
  }
  close(): void {
    this.closed = true;
  }
}

/** A bpffs stand-in: pinned paths → maps; paths in `wrongLayout` refuse to open as the native addon does. */
export class FakeMaps {
  readonly pinned = new Map<string, FakePinnedMap>();
  readonly wrongLayout = new Set<string>();
  readonly api: EnrichmentDeps['maps'] = {
    open: (path) => {
      if (this.wrongLayout.has(path)) throw new Error(`${path}: value size 8, expected 1024 (not an Inspektor Gadget containers map)`);
      const map = this.pinned.get(path);
      if (!map) throw new Error(`${path}: no such file or directory`);
      return map;
    },
    create: (path, maxEntries) => {
      if (this.wrongLayout.has(path)) throw new Error(`${path}: value size 8, expected 1024 (not an Inspektor Gadget containers map)`);
      const existing = this.pinned.get(path);
      if (existing) return existing;
      const map = new FakePinnedMap(path, maxEntries);
      this.pinned.set(path, map);
      return map;
    },
    unpin: (path) => {
      this.pinned.delete(path);
    },
    exists: (path) => this.pinned.has(path) || this.wrongLayout.has(path),
  };
}

export class FakeProc implements ProcFs {
  readonly mntnsOf = new Map<number, number>();
  readonly cgroupOf = new Map<number, string>();
  constructor(readonly host = 4026531840) {}
  mntns(pid: number): number | undefined {
    return this.mntnsOf.get(pid);
  }
  cgroup(pid: number): string | undefined {
    return this.cgroupOf.get(pid);
  }
  hostMntns(): number {
    return this.host;
  }
  /** A live process `pid` in the cgroup `cgroupPath` (of the unified hierarchy, and memory's, id 12) whose namespace is `mntns`. */
  process(pid: number, cgroupPath: string, mntns: number): void {
    this.mntnsOf.set(pid, mntns);
    this.cgroupOf.set(pid, `12:memory:${cgroupPath}\n0::${cgroupPath}\n`);
  }
  /** The process exited: procfs knows it no more. */
  gone(pid: number): void {
    this.mntnsOf.delete(pid);
    this.cgroupOf.delete(pid);
  }
}

export const ROOT_CGROUP = 1;
export const UNIFIED: ContainerHierarchy = { controller: 'unified', subsysIndex: undefined, hierarchyId: 0, mountPath: '/sys/fs/cgroup' };

/**
 * The host's container hierarchy: the test fills `cgroups` (id → path) as a
 * runtime would make and remove directories.
 */
export class FakeCgroupTree implements CgroupTree {
  readonly cgroups = new Map<number, string>();
  walks = 0;
  /** The root cgroup (id 1) is where host processes outside any service run. */
  constructor(readonly hierarchy: ContainerHierarchy = UNIFIED) {
    this.cgroups.set(ROOT_CGROUP, '/');
  }
  walk(): Map<number, string> {
    this.walks++;
    return new Map(this.cgroups);
  }
  idOf(cgroupPath: string): number | undefined {
    for (const [id, p] of this.cgroups) if (p === cgroupPath) return id;
    return undefined;
  }
  mkdir(cgroupId: number, cgroupPath: string): void {
    this.cgroups.set(cgroupId, cgroupPath);
  }
  rmdir(cgroupId: number): void {
    this.cgroups.delete(cgroupId);
  }
}

export interface LogLine {
  level: string;
  msg: string;
}

export function capturingLogger(lines: LogLine[] = []): Logger {
  const at = (level: string) => (msg: string) => void lines.push({ level, msg });
  const logger: Logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), child: () => logger };
  return logger;
}

export function testSettings(lines: LogLine[] = []): ComponentSettings {
  return {
    id: 'processors.container_enrichment',
    logger: capturingLogger(lines),
    metrics: new Registry(),
    stage: new StageCounters('processors.container_enrichment'),
    host: { hostname: 'test-host', nodeName: '' },
    clock: new BootClock(),
  };
}

/** Collects what the processor passes downstream, batch by batch. */
export class CollectingConsumer implements LogsConsumer {
  readonly batches: EventBatch[] = [];
  async consumeLogs(batch: EventBatch): Promise<void> {
    this.batches.push(batch);
  }
  /** Every record passed on so far, with its container id ('' = unenriched/host). */
  records(): Array<{ pid: number; mntns: number; id: string | null; comm: string }> {
    return this.batches.flatMap((b) =>
      Array.from({ length: b.length }, (_, i) => ({
        pid: b.pid(i),
        mntns: b.mntns(i),
        id: b.containers?.[i]?.id ?? null,
        comm: b.comm(i),
      })),
    );
  }
  /** Every record passed on so far with what the processor tagged it with (null: host; undefined: no container). */
  tagged(): Array<{ pid: number; comm: string; cgroupId: number; container: ContainerInfo | null | undefined }> {
    return this.batches.flatMap((b) =>
      Array.from({ length: b.length }, (_, i) => ({
        pid: b.pid(i),
        comm: b.comm(i),
        cgroupId: b.cgroupId(i),
        container: b.containers?.[i],
      })),
    );
  }
  count(): number {
    return this.batches.reduce((n, b) => n + b.length, 0);
  }
  /** Resolves once `done()` holds; fails the test instead of hanging if it never does. */
  async waitFor(done: () => boolean, what: string, limitMs = 10_000): Promise<void> {
    const start = Date.now();
    while (!done()) {
      if (Date.now() - start > limitMs) throw new Error(`gave up waiting for ${what}`);
      await pass(5);
    }
  }
}

/** Boot-clock now, so records carry a real time like the kernel's. */
const bootNowNs = () => process.hrtime.bigint();

/** Where a record's task runs: its mount namespace and the kernfs id of its cgroup in the container hierarchy (0: unread). */
export interface TaskAt {
  mntns: number;
  cgroupId: number;
}

export function execRecord(pid: number, at: TaskAt, comm = 'sh'): RecordSpec {
  return { type: 'exec', tsBootNs: bootNowNs(), pid, mntns: at.mntns, cgroupId: at.cgroupId, comm, filename: `/bin/${comm}`, args: [comm] };
}

export function exitRecord(pid: number, at: TaskAt, comm = 'sh'): RecordSpec {
  return { type: 'exit', tsBootNs: bootNowNs(), pid, mntns: at.mntns, cgroupId: at.cgroupId, comm, exitCode: 0 };
}

export function openRecord(pid: number, at: TaskAt, path: string, comm = 'sh'): RecordSpec {
  return { type: 'open', tsBootNs: bootNowNs(), pid, mntns: at.mntns, cgroupId: at.cgroupId, comm, path, ret: 3 };
}

/** One container as the kernel sees it: its id, its cgroup (id and path), its processes' mount namespace. */
export interface Box extends TaskAt {
  id: string;
  path: string;
}

/** A 64-hex container id from a number, as docker/CRI/podman make them. */
export function hexId(n: number | string): string {
  return String(n)
    .replace(/[^0-9a-f]/g, '')
    .padStart(64, '0');
}

/** A docker container (cgroupfs driver: /docker/<id>); `path` for other runtimes' layouts. */
export function box(id: string, cgroupId: number, mntns: number, path = `/docker/${id}`): Box {
  return { id, cgroupId, mntns, path };
}

/** The kernel's cgroup_mkdir record: cgroup `cgroupId` made at `cgroupPath` (from the hierarchy's root). */
export function mkdirRecord(cgroupId: number, cgroupPath: string): RecordSpec {
  return { type: 'cgroup_mkdir', tsBootNs: bootNowNs(), pid: 1, mntns: 0, cgroupId, comm: 'runc', path: cgroupPath };
}

export function rmdirRecord(cgroupId: number, cgroupPath: string): RecordSpec {
  return { type: 'cgroup_rmdir', tsBootNs: bootNowNs(), pid: 1, mntns: 0, cgroupId, comm: 'runc', path: cgroupPath };
}

export function batchOf(specs: RecordSpec[], clock = new BootClock()): EventBatch {
  const { batch, malformed } = EventBatch.parse(encodeRecords(specs), clock);
  if (malformed) throw new Error(`test batch has ${malformed} malformed records`);
  return batch;
}
