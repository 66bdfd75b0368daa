import { type ContainerInfo, EventBatch, EventType, type RecordContainers } from '../../events';
import type { PinnedContainersMap } from '../../native/types';
import type { ComponentSettings, LogsConsumer, Processor } from '../../pipeline/component';
import { once } from '../../pipeline/component';
import { WarnOnce } from '../../pipeline/logger';
import type { ResolvedConfig } from './config';
import { ContainerIndex } from './container-index';
import { EnrichmentCounters, registerEnrichmentMetrics, type UnenrichedReason } from './metrics';
import { type HeldGroup, PendingBuffer } from './pending';
import { infoFromEntry, PinnedMapWriter } from './pinned-map';
import type { ProcFs } from './procfs';
import { candidateIds, getFromRuntimes, outranks } from './resolver';
import { type RuntimeClient, type RuntimeEvent, RuntimeUnavailableError } from './runtime/types';

/** Everything the processor touches outside itself; tests inject fakes. */
export interface EnrichmentDeps {
  runtimeClients(): RuntimeClient[];
  proc: ProcFs;
  maps: {
    open(path: string): PinnedContainersMap;
    /** Reuses a pinned map of the right layout at `path`, else creates and pins one (mkdir -p). */
    create(path: string, maxEntries: number): PinnedContainersMap;
    unpin(path: string): void;
    exists(path: string): boolean;
  };
  now(): number;
}

/** Sweeps tombstones and follows the source map; also bounds how late a map change is seen. */
const HOUSEKEEPING_MS = 500;
/** The initial list of a slow runtime does not hold up the pipeline's start longer than this. */
const START_LIST_WAIT_MS = 5000;
/** First retry of an on-demand lookup (runc moves its init into the container cgroup within ms); doubles up to RETRY_MAX_MS while the deadline allows. */
const RETRY_BASE_MS = 2;
/** A container's runtime usually knows it within a few ms; records should not wait long after. */
const RETRY_MAX_MS = 100;
/** Container ids remembered per held namespace (a process's cgroup names one or two). */
const MAX_CANDIDATES = 16;

/**
 * Tags each record with the container its mount namespace belongs to
 * (DESIGN.md §4). Records of an unknown namespace wait, bounded, while the
 * container is looked up; they go downstream as their own batch when it is
 * found or when their deadline passes.
 */
export class ContainerEnrichmentProcessor implements Processor {
  readonly index: ContainerIndex;
  readonly pending: PendingBuffer;
  readonly counters = new EnrichmentCounters();
  private hostMntns = 0;
  private clients: RuntimeClient[] = [];
  private writer: PinnedMapWriter | undefined;
  private source: PinnedContainersMap | undefined;
  private sourceRefused = false;
  private sourceEntries = 0;
  private readonly sourceIds = new Set<string>();
  private readonly exitSeq = new Map<string, number>();
  /** mntns → until when its records pass without waiting; bounded by max_containers. */
  private readonly unidentified = new Map<number, number>();
  private eventSeq = 0;
  private deadlineTimer: NodeJS.Timeout | undefined;
  private deadlineAt = 0;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private readonly listing = new Set<RuntimeClient>();
  private readonly warn: WarnOnce;
  private readonly unregisterMetrics: () => void;
  private stopped = false;
  readonly shutdown: () => Promise<void>;

  constructor(
    private readonly config: ResolvedConfig,
    private readonly settings: ComponentSettings,
    private readonly next: LogsConsumer,
    private readonly deps: EnrichmentDeps,
  ) {
    this.warn = new WarnOnce(settings.logger);
    this.index = new ContainerIndex(config.maxContainers, config.tombstoneTtlMs, deps.now, {
      added: (mntns, info) => this.writer?.added(mntns, info),
      removed: (mntns, info) => this.writer?.removed(mntns, info),
    });
    this.pending = new PendingBuffer(config.pending.maxPerMntns, config.pending.maxTotal, config.pending.deadlineMs, deps.now);
    this.unregisterMetrics = registerEnrichmentMetrics(settings.metrics, {
      component: settings.id,
      counters: this.counters,
      pending: () => this.pending.size,
      indexSize: () => this.index.liveSize(),
      tombstones: () => this.index.tombstoneCount(),
      indexRefused: () => this.index.refused,
      unidentified: () => this.unidentified.size,
      pinnedEntries: () => ({ write: this.writer?.size ?? -1, read: this.source ? this.sourceEntries : -1 }),
      runtimes: () => this.clients.map((c) => ({ runtime: c.runtime, endpoint: c.endpoint, up: c.healthy(), cacheEvictions: c.cacheEvictions?.() })),
    });
    this.shutdown = once(() => this.stop());
  }

  async start(): Promise<void> {
    this.hostMntns = this.deps.proc.hostMntns();
    if (this.config.pinnedMap.write) this.writer = this.openWriter();
    this.followSource();
    this.clients = this.deps.runtimeClients();
    for (const client of this.clients) {
      client.watch(
        (event) => this.onRuntimeEvent(client, event),
        () => void this.relist(client),
      );
    }
    const initial = Promise.all(this.clients.map((c) => this.relist(c)));
    await Promise.race([initial, new Promise<void>((resolve) => this.every(START_LIST_WAIT_MS, resolve, false))]);
    // Entries kept from an earlier run whose containers are gone must not linger.
    this.writer?.reconcile(this.index.live());
    this.every(this.config.resyncIntervalMs, () => {
      for (const c of this.clients) void this.relist(c);
    });
    this.every(HOUSEKEEPING_MS, () => {
      this.index.sweep();
      this.followSource();
    });
  }

  async consumeLogs(batch: EventBatch): Promise<void> {
    const n = batch.length;
    const containers: RecordContainers = new Array(n);
    const index = this.index;
    const host = this.hostMntns;
    let keep: Uint8Array | undefined;
    let hits = 0;
    let hostEvents = 0;
    let misses = 0;
    let newGroups: number[] | undefined;
    for (let i = 0; i < n; i++) {
      const mntns = batch.mntns(i);
      const info = index.lookup(mntns);
      if (info !== undefined && (info.state !== 'stopped' || this.tombstoneHolds(batch, i, mntns))) {
        containers[i] = info;
        hits++;
        continue;
      }
      if (mntns === host) {
        containers[i] = null;
        hostEvents++;
        if (this.config.dropHostEvents) (keep ??= new Uint8Array(n).fill(1))[i] = 0;
        continue;
      }
      misses++;
      // 0: the kernel could not read the namespace; nothing to wait for.
      if (mntns === 0 || this.stopped) {
        this.counters.releasedUnenriched[mntns === 0 ? 'no_mntns' : 'shutdown']++;
        continue;
      }
      if (this.unidentified.size > 0 && this.stillUnidentified(batch, i, mntns)) {
        this.counters.releasedUnenriched.unidentified++;
        continue;
      }
      const at = batch.offsets[i];
      const held = this.pending.hold(mntns, batch.pid(i), batch.ppid(i), batch.buffer.subarray(at, at + batch.recordSize(i)), batch.clock);
      if (held === 'overflow') {
        this.counters.releasedUnenriched.overflow++;
        continue;
      }
      (keep ??= new Uint8Array(n).fill(1))[i] = 0;
      if (held === 'new-group') (newGroups ??= []).push(mntns);
    }
    this.counters.hits += hits;
    this.counters.misses += misses;
    this.counters.hostEvents += hostEvents;
    batch.containers = containers;
    if (this.config.dropHostEvents && hostEvents > 0) this.settings.stage.drop(hostEvents, 'host_event');
    if (newGroups) {
      this.armDeadline();
      for (const mntns of newGroups) void this.lookup(mntns, 0);
    }
    const out = keep ? batch.filter((i) => keep[i] === 1) : batch;
    if (out.length > 0) await this.next.consumeLogs(out);
  }

  /**
   * A tombstone's namespace inode may already belong to a new container: the
   * kernel reuses freed inodes at once. Its dead processes can no longer exec,
   * and none of them started after it died; a record saying otherwise is the
   * new container's (then the tombstone goes and the record waits as unknown).
   */
  private tombstoneHolds(batch: EventBatch, i: number, mntns: number): boolean {
    const diedAt = this.index.diedAt(mntns)!;
    const eventMs = Number(batch.timeUnixNs(i) / 1_000_000n);
    let reused = batch.typeCode(i) === EventType.exec && eventMs > diedAt;
    if (!reused) {
      const startBootMs = this.deps.proc.startBootMs(batch.pid(i));
      reused = startBootMs !== undefined && Number(batch.clock.toEpochNs(BigInt(Math.round(startBootMs)) * 1_000_000n) / 1_000_000n) > diedAt;
    }
    if (reused) this.index.forgetTombstone(mntns);
    return !reused;
  }

  /**
   * A namespace no lookup could tie to a container within the deadline (a
   * service with a private /tmp, an unconfigured runtime) is not held again
   * until the next resync could have found it: its records would only wait in
   * vain. An exec whose cgroup names a container ends that early (the inode
   * may have been reused by a new container).
   */
  private stillUnidentified(batch: EventBatch, i: number, mntns: number): boolean {
    const until = this.unidentified.get(mntns);
    if (until === undefined) return false;
    if (until > this.deps.now() && !(batch.typeCode(i) === EventType.exec && candidateIds(batch.pid(i), this.deps.proc).length > 0)) return true;
    this.unidentified.delete(mntns);
    return false;
  }

  private rememberUnidentified(mntns: number): void {
    if (this.index.lookup(mntns)) return;
    this.unidentified.delete(mntns);
    this.unidentified.set(mntns, this.deps.now() + this.config.resyncIntervalMs);
    if (this.unidentified.size > this.config.maxContainers) {
      for (const oldest of this.unidentified.keys()) {
        this.unidentified.delete(oldest);
        this.counters.unidentifiedEvicted++;
        break;
      }
    }
  }

  /** Where a container's mount namespace is now known, held records of it are released. */
  learn(info: ContainerInfo, mntns = info.mntns): void {
    if (mntns !== 0 && mntns === this.hostMntns) {
      // A container sharing the host's mount namespace cannot be told apart from the host.
      this.warn.warn('host-mntns', `container ${info.id} (${info.runtime}) shares the host's mount namespace ${mntns}; its events stay host events (warned once)`);
      return;
    }
    const current = mntns ? this.index.lookup(mntns) : this.index.byId(info.id);
    if (current && current.id === info.id && current.state !== 'stopped' && outranks(current, info)) return;
    const result = this.index.upsert(info, mntns);
    if (result === 'full') {
      this.warn.warn(
        'index-full',
        `container index full (${this.config.maxContainers} containers incl. tombstones): container ${info.id} not indexed, its events pass unenriched ` +
          '(raise processors.container_enrichment.max_containers or lower tombstone_ttl; counted in enrichment_index_refused_total)',
      );
      return;
    }
    if (!mntns) return;
    this.unidentified.delete(mntns);
    const group = this.pending.take(mntns);
    if (group) this.release([group], info);
  }

  private async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    clearTimeout(this.deadlineTimer);
    await Promise.allSettled(this.clients.map((c) => c.close()));
    const held = this.pending.takeAll();
    if (held.length) this.release(held, undefined, 'shutdown');
    await Promise.allSettled([...this.inFlight]);
    this.source?.close();
    this.source = undefined;
    if (this.writer) {
      const { map } = this.writer;
      this.writer = undefined;
      map.close();
      if (!this.config.pinnedMap.keepOnShutdown) {
        try {
          this.deps.maps.unpin(map.path);
        } catch (err) {
          this.settings.logger.warn(`cannot remove pinned map ${map.path}: ${(err as Error).message} (remove it with: rm ${map.path})`);
        }
      }
    }
    this.unregisterMetrics();
  }

  private openWriter(): PinnedMapWriter {
    const { writePath, maxEntries } = this.config.pinnedMap;
    const { maps } = this.deps;
    let map: PinnedContainersMap;
    try {
      map = maps.create(writePath, maxEntries);
    } catch (err) {
      throw new Error(
        `pinned containers map ${writePath}: ${(err as Error).message} ` +
          '(mount bpffs at /sys/fs/bpf and run as root; remove a stale map of another layout with `rm`; or set processors.container_enrichment.pinned_map.write: false)',
      );
    }
    return new PinnedMapWriter(map, this.counters, this.warn);
  }

  /**
   * Another agent's map (Inspektor Gadget layout) is a source for mount
   * namespaces no runtime client knows. It may appear or vanish at any time;
   * one with another layout is refused once, loudly, and never read.
   */
  private followSource(): void {
    const { readPath } = this.config.pinnedMap;
    if (this.source && !this.deps.maps.exists(readPath)) {
      // Unpinned by its owner: our fd would keep showing a map nobody updates.
      this.source.close();
      this.source = undefined;
      this.settings.logger.info(`pinned map ${readPath} is gone; its containers become tombstones`);
    }
    if (!this.source) {
      if (this.sourceRefused || !this.deps.maps.exists(readPath)) return this.forgetSourceEntries(new Set());
      try {
        this.source = this.deps.maps.open(readPath);
        this.settings.logger.info(`using containers from pinned map ${readPath}`);
      } catch (err) {
        this.sourceRefused = true;
        this.settings.logger.error(
          `pinned map ${readPath} refused as a container source: ${(err as Error).message} ` +
            '(containers are not read from it; point processors.container_enrichment.pinned_map.read_path at an Inspektor Gadget containers map)',
        );
        return;
      }
    }
    let entries;
    try {
      entries = this.source.entries();
    } catch (err) {
      this.counters.mapErrors.read++;
      this.warn.warn('source-read', `pinned map ${readPath}: cannot read entries, closing it: ${(err as Error).message}`);
      this.source.close();
      this.source = undefined;
      return this.forgetSourceEntries(new Set());
    }
    this.sourceEntries = entries.length;
    const present = new Set<string>();
    for (const entry of entries) {
      present.add(entry.containerId);
      const known = this.index.lookup(entry.mntns);
      // Runtimes know more; and an entry already taken needs no second look.
      if (known && known.state !== 'stopped' && (known.runtime !== 'pinned-map' || known.id === entry.containerId)) continue;
      this.sourceIds.add(entry.containerId);
      this.learn(infoFromEntry(entry));
    }
    this.forgetSourceEntries(present);
  }

  private forgetSourceEntries(present: Set<string>): void {
    for (const id of this.sourceIds) {
      if (present.has(id)) continue;
      this.sourceIds.delete(id);
      if (this.index.byId(id)?.runtime === 'pinned-map') this.index.exit(id);
    }
  }

  private async relist(client: RuntimeClient): Promise<void> {
    // A slow runtime's lists must not pile up: one at a time per client.
    if (this.listing.has(client)) return;
    this.listing.add(client);
    let list: ContainerInfo[];
    try {
      list = await client.list();
    } catch (err) {
      if (err instanceof RuntimeUnavailableError) {
        // The client has already warned about this outage, once; a second warning per outage would be noise.
        this.settings.logger.debug(`${err.message}: cannot list containers (retrying every ${this.config.resyncIntervalMs} ms)`);
      } else {
        this.warn.warn(`list-${client.runtime}`, `${client.runtime} at ${client.endpoint}: cannot list containers: ${(err as Error).message} (retrying every ${this.config.resyncIntervalMs} ms)`);
      }
      return;
    } finally {
      this.listing.delete(client);
    }
    this.warn.reset(`list-${client.runtime}`);
    if (this.stopped) return;
    const seen = new Set<string>();
    for (const info of list) {
      if (info.sandbox) continue;
      if (info.state === 'stopped') continue;
      seen.add(info.id);
      this.learn(this.withMntns(info));
    }
    for (const id of this.index.liveIds(client.runtime)) {
      if (!seen.has(id)) this.index.exit(id);
    }
  }

  private onRuntimeEvent(client: RuntimeClient, event: RuntimeEvent): void {
    if (this.stopped) return;
    const seq = ++this.eventSeq;
    switch (event.kind) {
      case 'exited':
      case 'deleted':
        this.index.exit(event.id);
        this.noteExit(event.id, seq);
        return;
      case 'oom':
        return;
      default:
        if (event.container) return this.learnFromEvent(event.container, event.pid, seq);
        client.get(event.id).then(
          (info) => info && this.learnFromEvent(info, event.pid, seq),
          (err: Error) => this.warn.warn(`get-${client.runtime}`, `${client.runtime}: cannot fetch container ${event.id} after its ${event.kind} event: ${err.message}`),
        );
    }
  }

  private learnFromEvent(info: ContainerInfo, pid: number | undefined, seq: number): void {
    // An exit seen after this event was issued makes the (slower) answer stale.
    if (this.stopped || info.sandbox || info.state === 'stopped' || (this.exitSeq.get(info.id) ?? 0) > seq) return;
    this.learn(this.withMntns(info, pid));
  }

  /** Bounded like the index: only ids whose answers may still be in flight matter. */
  private noteExit(id: string, seq: number): void {
    this.exitSeq.delete(id);
    this.exitSeq.set(id, seq);
    if (this.exitSeq.size > this.config.maxContainers) {
      for (const oldest of this.exitSeq.keys()) {
        this.exitSeq.delete(oldest);
        break;
      }
    }
  }

  private withMntns(info: ContainerInfo, pid?: number): ContainerInfo {
    if (info.mntns) return info;
    const p = info.pid || pid;
    const mntns = p ? this.deps.proc.mntns(p) : undefined;
    return mntns ? { ...info, mntns } : info;
  }

  /**
   * pid → cgroup → container id → runtime `get`; then another agent's map.
   * Retried with backoff until the group is released: a container can be in
   * its cgroup before its runtime reports it. The first cgroup read happens
   * synchronously within consumeLogs, while short-lived processes still exist,
   * and the ids found are kept for the retries.
   */
  private async lookup(mntns: number, attempt: number): Promise<void> {
    const group = this.pending.peek(mntns);
    if (!group) return;
    for (const pid of group.pids) {
      // Only a process (still) in the event's namespace speaks for it.
      if (this.deps.proc.mntns(pid) !== mntns) continue;
      for (const id of candidateIds(pid, this.deps.proc)) {
        if (group.candidates.length < MAX_CANDIDATES && !group.candidates.some((c) => c.id === id)) group.candidates.push({ id, pid });
      }
    }
    if (group.candidates.length > 0) {
      // A container already indexed under another namespace needs no runtime round trip.
      const known = group.candidates.map((c) => this.index.byId(c.id)).find((c) => c !== undefined);
      const found = known ?? await getFromRuntimes(
        group.candidates.map((c) => c.id),
        this.clients,
        (richer) => {
          if (!this.stopped) this.learn(this.withMntns(richer));
        },
      );
      if (this.stopped || !this.pending.has(mntns)) return;
      if (found) {
        const info = this.withMntns(found);
        this.learn(info);
        // The cgroup was read from a process in the event's namespace; it may
        // have exited since, but a reused pid in another namespace must not count.
        const from = group.candidates.find((c) => c.id === found.id)?.pid;
        const now = from === undefined ? undefined : this.deps.proc.mntns(from);
        if (info.mntns !== mntns && from !== undefined && (now === undefined || now === mntns)) this.learn(info, mntns);
        if (!this.pending.has(mntns)) return;
      }
    }
    const fromMap = this.sourceLookup(mntns);
    if (fromMap) {
      this.sourceIds.add(fromMap.id);
      this.learn(fromMap);
      return;
    }
    const delay = Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** attempt);
    if (this.deps.now() + delay < group.deadline) {
      const t = setTimeout(() => void this.lookup(mntns, attempt + 1), delay);
      t.unref();
    }
  }

  private sourceLookup(mntns: number): ContainerInfo | undefined {
    if (!this.source) return undefined;
    try {
      const entry = this.source.lookup(mntns);
      return entry ? infoFromEntry(entry) : undefined;
    } catch {
      this.counters.mapErrors.read++;
      return undefined;
    }
  }

  private armDeadline(): void {
    const due = this.pending.nextDeadline();
    if (due === undefined || (this.deadlineTimer && this.deadlineAt <= due)) return;
    clearTimeout(this.deadlineTimer);
    this.deadlineAt = due;
    this.deadlineTimer = setTimeout(() => {
      this.deadlineTimer = undefined;
      const expired = this.pending.takeExpired();
      if (expired.length) {
        for (const g of expired) this.rememberUnidentified(g.mntns);
        this.release(expired, undefined, 'deadline');
      }
      this.armDeadline();
    }, Math.max(0, due - this.deps.now()));
    this.deadlineTimer.unref();
  }

  /** Held records go downstream as one batch of their own. */
  /** `info` undefined: released unidentified, for `reason`. */
  private release(groups: HeldGroup[], info: ContainerInfo | undefined, reason?: UnenrichedReason): void {
    const records = groups.flatMap((g) => g.records);
    const offsets = new Uint32Array(records.length);
    let at = 0;
    records.forEach((r, k) => {
      offsets[k] = at;
      at += r.length;
    });
    const batch = new EventBatch(Buffer.concat(records, at), offsets, groups[0].clock);
    batch.containers = new Array<ContainerInfo | undefined>(records.length).fill(info);
    if (reason) this.counters.releasedUnenriched[reason] += records.length;
    else this.counters.releasedEnriched += records.length;
    const delivery = this.next.consumeLogs(batch).then(
      () => undefined,
      (err: Error) => this.warn.warn('release', `held records not delivered downstream: ${err.message}`),
    );
    this.inFlight.add(delivery);
    void delivery.finally(() => this.inFlight.delete(delivery));
  }

  /** An interval that never keeps the process alive and stops with the processor. */
  private every(ms: number, fn: () => void, repeat = true): void {
    const t = repeat ? setInterval(fn, ms) : setTimeout(fn, ms);
    t.unref();
    this.timers.push(t);
  }
}
