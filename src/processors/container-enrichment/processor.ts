import { type CgroupChange, type ContainerInfo, EventBatch, type RecordContainers } from '../../events';
import { cgroupPathIn, type ContainerHierarchy } from '../../host/cgroups';
import type { ContainersMapEntry, PinnedContainersMap } from '../../native/types';
import type { ComponentSettings, LogsConsumer, Processor } from '../../pipeline/component';
import { once } from '../../pipeline/component';
import { WarnOnce } from '../../pipeline/logger';
import type { ResolvedConfig } from './config';
import { ContainerIndex, type Known } from './container-index';
import { EnrichmentCounters, registerEnrichmentMetrics, type UnenrichedReason } from './metrics';
import { type HeldGroup, PendingBuffer } from './pending';
import { infoFromEntry, PinnedMapWriter } from './pinned-map';
import type { ProcFs } from './procfs';
import { getFromRuntimes, outranks } from './resolver';
import { type RuntimeClient, type RuntimeEvent, RuntimeUnavailableError } from './runtime/types';

/** The host's tree of the container hierarchy; tests inject a fake. */
export interface CgroupTree {
  readonly hierarchy: ContainerHierarchy;
  /** Every cgroup of the hierarchy: id → path from its root. */
  walk(): Map<number, string>;
  /** The id of the cgroup at `path`; undefined when it does not exist (any more). */
  idOf(path: string): number | undefined;
}

/** Everything the processor touches outside itself; tests inject fakes. */
export interface EnrichmentDeps {
  runtimeClients(): RuntimeClient[];
  proc: ProcFs;
  cgroups: CgroupTree;
  maps: {
    open(path: string): PinnedContainersMap;
    /** Reuses a pinned map of the right layout at `path`, else creates and pins one (mkdir -p). */
    create(path: string, maxEntries: number): PinnedContainersMap;
    unpin(path: string): void;
    exists(path: string): boolean;
  };
  now(): number;
  /** What the host environment costs enrichment (a missing mount or capability), logged once at start. */
  startupWarnings?(): string[];
}

/** Sweeps tombstones and follows the source map; also bounds how late a map change is seen. */
const HOUSEKEEPING_MS = 500;
/** The initial list of a slow runtime does not hold up the pipeline's start longer than this. */
const START_LIST_WAIT_MS = 5000;
/** First retry of a runtime lookup (a runtime may make the cgroup a moment before it answers for the id); doubles up to RETRY_MAX_MS. */
const RETRY_BASE_MS = 2;
const RETRY_MAX_MS = 100;
/**
 * How long a path that only looks like containerd's /<namespace>/<id> waits for containerd to
 * confirm it. A `ctr run --rm` container can be gone before it is asked, and then only its events
 * tell it, which a loaded host delivers late: with 100 ms, one of twenty short-lived `ctr`
 * containers went unattributed in a CI run. The cost is the first records of a cgroup that is no
 * container's waiting this long, once.
 */
const UNCERTAIN_LOOKUP_MS = 1000;
/** A lookup re-reads another agent's map at most this often (it is read every HOUSEKEEPING_MS anyway). */
const SOURCE_REREAD_MS = 20;
/** A walk of the cgroup tree for cgroups no record announced happens at most this often. */
const RESCAN_MIN_MS = 250;
const UNRESOLVED = 'cgroup:';

/**
 * Tags each record with its container, by the record's cgroup id: unique
 * over a boot, unlike the mount namespace inode the kernel reuses within
 * milliseconds. Containers are learned from the kernel as their cgroups are
 * made (cgroup records, from a ring of their own, handed over no later than
 * the container's first record) and from the cgroup tree at start; the
 * cgroup path names the container, the runtimes describe it. Records of a container not described
 * yet wait, bounded, and go downstream as their own batch when a runtime
 * answers or their deadline passes.
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
  private sourceById = new Map<string, ContainersMapEntry>();
  private sourceReadAt = 0;
  private readonly lookups = new Set<string>();
  /** Ids fetched after a runtime event while unknown; an exit seen before the answer removes its id. */
  private readonly fetching = new Set<string>();
  private lastRescan = 0;
  private rescanTimer: NodeJS.Timeout | undefined;
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
    this.index = new ContainerIndex(config.maxContainers, config.tombstoneTtlMs, deps.now, (cgroupIds) =>
      settings.containers?.forgotten(cgroupIds),
    );
    if (settings.containers) settings.containers.describer = settings.id;
    this.pending = new PendingBuffer(config.pending.maxPerContainer, config.pending.maxTotal, config.pending.deadlineMs, deps.now);
    this.unregisterMetrics = registerEnrichmentMetrics(settings.metrics, {
      component: settings.id,
      counters: this.counters,
      pending: () => this.pending.size,
      containers: () => ({ live: this.index.liveCount(), exited: this.index.exitedCount() }),
      indexRefused: () => this.index.refused,
      notContainerEvicted: () => this.index.notContainerEvicted,
      pinnedEntries: () => ({ write: this.writer?.size ?? -1, read: this.source ? this.sourceById.size : -1 }),
      runtimes: () =>
        this.clients.map((c) => ({ runtime: c.runtime, endpoint: c.endpoint, up: c.healthy(), cacheEvictions: c.cacheEvictions?.() })),
    });
    this.shutdown = once(() => this.stop());
  }

  async start(): Promise<void> {
    for (const w of this.deps.startupWarnings?.() ?? []) this.settings.logger.warn(w);
    this.hostMntns = this.deps.proc.hostMntns();
    if (!this.deps.cgroups.hierarchy.mountPath) {
      this.settings.logger.warn(
        `the ${this.deps.cgroups.hierarchy.controller} cgroup hierarchy is not mounted here: containers that existed before the agent started are found from /proc only ` +
          "(mount the host's /sys/fs/cgroup, e.g. at <host_root>/sys/fs/cgroup)",
      );
    }
    this.rescan();
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
    for (const k of this.index.live()) if (!k.described) this.startLookup(k);
    // Entries kept from an earlier run whose containers are gone must not linger.
    this.writer?.reconcile(this.published());
    this.every(this.config.resyncIntervalMs, () => {
      for (const c of this.clients) void this.relist(c);
      this.exitVanished();
    });
    this.every(HOUSEKEEPING_MS, () => {
      this.index.sweep();
      this.followSource();
    });
  }

  async consumeLogs(batch: EventBatch): Promise<void> {
    for (const change of batch.cgroupChanges) this.onCgroupChange(change);
    const n = batch.length;
    const containers: RecordContainers = new Array(n);
    const index = this.index;
    const host = this.hostMntns;
    const without = this.counters.withoutMetadata;
    let drop: Uint8Array | undefined;
    let hits = 0;
    let hostEvents = 0;
    let misses = 0;
    let dropped = 0;
    let notSelected = 0;
    // The cgroup and mount namespace of the record just before, when it was a plain host event or
    // a hit (records come in runs of one process): the same pair next is the same answer, with no
    // lookup. Only the very next record: one taking another path may change the index (resolve).
    let runCgroupId = -1;
    let runMntns = -1;
    let runInfo: ContainerInfo | null = null;
    const cacheHost = !this.config.dropHostEvents;
    for (let i = 0; i < n; i++) {
      const cgroupId = batch.cgroupId(i);
      const mntns = batch.mntns(i);
      if (cgroupId === runCgroupId && mntns === runMntns) {
        containers[i] = runInfo;
        if (runInfo === null) hostEvents++;
        else hits++;
        continue;
      }
      runCgroupId = -1;
      let known = index.lookup(cgroupId);
      if (known === undefined) {
        if (mntns === host) known = null;
        else if (cgroupId === 0) {
          without.no_cgroup++;
          continue;
        } else {
          const resolved = this.resolve(cgroupId, batch.pid(i));
          if (resolved === 'full') {
            // Refused by the index bound (warned, counted in index_refused_total): nothing to wait for.
            without.overflow++;
            continue;
          }
          known = resolved;
        }
      }
      if (known === null) {
        // No container's cgroup: the host, or a host service with a private mount namespace.
        if (mntns === host) {
          containers[i] = null;
          hostEvents++;
          if (cacheHost) {
            runCgroupId = cgroupId;
            runMntns = mntns;
            runInfo = null;
          }
        } else without.not_container++;
        if (this.config.dropHostEvents) {
          (drop ??= new Uint8Array(n))[i] = 1;
          dropped++;
        }
        continue;
      }
      if (known !== undefined) {
        if (known.mntns === 0) this.noteMntns(known, mntns);
        if (known.described || (known.settled && known.certain)) {
          if (!known.traced) {
            (drop ??= new Uint8Array(n))[i] = 1;
            notSelected++;
            continue;
          }
          containers[i] = known.info;
          if (known.described) {
            hits++;
            runCgroupId = cgroupId;
            runMntns = mntns;
            runInfo = known.info;
          } else without.path_only++;
          continue;
        }
        if (known.settled) {
          without.not_container++;
          continue;
        }
      }
      misses++;
      const key = known ? known.id : UNRESOLVED + cgroupId;
      const held = this.pending.hold(key, batch.recordBytes(i), batch.clock);
      if (held === 'overflow') {
        if (known?.certain) containers[i] = known.info;
        without.overflow++;
        continue;
      }
      (drop ??= new Uint8Array(n))[i] = 1;
      if (held === 'new-group') this.armDeadline();
    }
    this.counters.hits += hits;
    this.counters.misses += misses;
    this.counters.hostEvents += hostEvents;
    batch.containers = containers;
    if (dropped > 0) this.settings.stage.drop(dropped, 'host_event');
    if (notSelected > 0) this.settings.stage.drop(notSelected, 'not_selected');
    const out = drop ? batch.filter((i) => drop[i] === 0) : batch;
    if (out.length > 0) await this.next.consumeLogs(out);
  }

  private onCgroupChange(change: CgroupChange): void {
    if (change.kind === 'mkdir') {
      const result = this.index.addCgroup(change.cgroupId, change.path);
      if (result === 'full') this.warnIndexFull(change.path);
      else if (result !== 'not-container') {
        if (result.created) this.startLookup(result.known);
        // Another cgroup of a container already decided (a sub-cgroup of a system container).
        else if (result.known.described || result.known.settled) this.decide(result.known);
      }
      return;
    }
    const last = this.index.removeCgroup(change.cgroupId);
    if (last) this.exitContainer(last);
  }

  /**
   * A cgroup no cgroup record announced (made before the agent, or its record
   * lost): the record's process names its path, else a walk of the tree.
   * undefined: not found yet (the records wait, a walk is due); 'full': the
   * index refused its container.
   */
  private resolve(cgroupId: number, pid: number): Known | null | undefined | 'full' {
    const { hierarchy } = this.deps.cgroups;
    const cgroupPath = this.cgroupPathOf(pid);
    // The process may have moved since the record: only a path that still has the record's id counts.
    if (cgroupPath !== undefined && (!hierarchy.mountPath || this.deps.cgroups.idOf(cgroupPath) === cgroupId)) {
      const result = this.index.addCgroup(cgroupId, cgroupPath);
      if (result === 'not-container') return null;
      if (result === 'full') {
        this.warnIndexFull(cgroupPath);
        return 'full';
      }
      if (result.created) this.startLookup(result.known);
      return result.known;
    }
    this.scheduleRescan();
    return undefined;
  }

  /** `pid`'s cgroup in the container hierarchy, from procfs; undefined when the process is gone. */
  private cgroupPathOf(pid: number): string | undefined {
    const text = this.deps.proc.cgroup(pid);
    return text === undefined ? undefined : cgroupPathIn(text, this.deps.cgroups.hierarchy.hierarchyId);
  }

  private warnIndexFull(cgroupPath: string): undefined {
    this.warn.warn(
      'index-full',
      `container index full (${this.config.maxContainers} containers incl. exited ones): the container of cgroup ${cgroupPath} is not indexed, its events pass unenriched ` +
        '(raise processors.container_enrichment.max_containers or lower tombstone_ttl; counted in enrichment_index_refused_total)',
    );
    return undefined;
  }

  private scheduleRescan(): void {
    if (this.rescanTimer || !this.deps.cgroups.hierarchy.mountPath) return;
    const wait = Math.max(0, this.lastRescan + RESCAN_MIN_MS - this.deps.now());
    this.rescanTimer = setTimeout(() => {
      this.rescanTimer = undefined;
      if (!this.stopped) this.rescan();
    }, wait);
    this.rescanTimer.unref();
  }

  /** Learns every container cgroup of the tree; records waiting for a cgroup found now move on. */
  private rescan(): void {
    this.lastRescan = this.deps.now();
    if (!this.deps.cgroups.hierarchy.mountPath) return;
    this.counters.cgroupRescans++;
    for (const [cgroupId, cgroupPath] of this.deps.cgroups.walk()) {
      if (this.index.lookup(cgroupId) !== undefined) continue;
      const result = this.index.addCgroup(cgroupId, cgroupPath);
      if (typeof result === 'object' && result.created && this.clients.length > 0) this.startLookup(result.known);
    }
    for (const group of this.pending.takeWhere(
      (key) => key.startsWith(UNRESOLVED) && this.index.lookup(Number(key.slice(UNRESOLVED.length))) !== undefined,
    )) {
      const known = this.index.lookup(Number(group.key.slice(UNRESOLVED.length)));
      if (!known) this.release([group], null);
      else if (known.described) this.release([group], known.info);
      else if (!known.settled) {
        for (const r of group.records) this.pending.hold(known.id, r, group.clock);
        this.armDeadline();
      } else this.release([group], known.certain ? known.info : null, 'path_only');
    }
  }

  /** The first mount namespace a container's processes are seen in, other than the host's. */
  private noteMntns(known: Known, mntns: number): void {
    if (mntns === 0 || mntns === this.hostMntns) return;
    known.mntns = mntns;
    this.publish(known);
  }

  /** Our pinned map lists a live container once its namespace is known and it is surely a container. */
  private publish(known: Known): void {
    if (this.writer && known.mntns !== 0 && known.exitedAt === undefined && (known.certain || known.described))
      this.writer.put(known.mntns, known.info);
  }

  private *published(): IterableIterator<[number, ContainerInfo]> {
    for (const k of this.index.live()) if (k.mntns !== 0 && (k.certain || k.described)) yield [k.mntns, k.info];
  }

  private exitContainer(known: Known): void {
    if (!this.index.exit(known)) return;
    if (this.writer && known.mntns !== 0) this.writer.release(known.mntns, known.id);
  }

  /** Live containers none of whose cgroups exist any more (their removal was never seen) exit now. */
  private exitVanished(): void {
    if (!this.deps.cgroups.hierarchy.mountPath) return;
    for (const k of [...this.index.live()]) {
      if (k.cgroups.size === 0) continue;
      for (const [cgroupId, cgroupPath] of k.cgroups) {
        if (this.deps.cgroups.idOf(cgroupPath) !== cgroupId && this.index.removeCgroup(cgroupId)) this.exitContainer(k);
      }
    }
  }

  /**
   * A runtime (or another agent's map) describes a container. Records that
   * waited for it are released; our pinned map follows.
   */
  private describe(info: ContainerInfo): void {
    if (this.stopped || info.sandbox) return;
    let known = this.index.get(info.id);
    if (!known) {
      const made = this.index.ensureById(info);
      if (made === 'full') return void this.warnIndexFull(info.cgroupPath || info.id);
      known = made;
      this.attachByPid(known, info.pid);
    }
    if (known.described && outranks(known.info, info)) return;
    const cgroupPath = known.info.cgroupPath;
    const podUid = known.info.k8s?.podUid;
    const merged: ContainerInfo = { ...info, cgroupPath: info.cgroupPath || cgroupPath };
    if (merged.k8s && !merged.k8s.podUid && podUid) merged.k8s = { ...merged.k8s, podUid };
    if (known.exitedAt !== undefined) merged.state = 'stopped';
    known.info = merged;
    known.described = true;
    known.certain = true;
    if (info.pid > 0 && known.exitedAt === undefined) {
      const mntns = this.deps.proc.mntns(info.pid);
      if (mntns !== undefined && mntns !== this.hostMntns) known.mntns = mntns;
    }
    this.decide(known);
    this.publish(known);
    const group = this.pending.take(known.id);
    if (group) this.release([group], known.info);
  }

  /** Receivers that select containers decide on what is known of it now (and set their kernel verdicts). */
  private decide(known: Known): void {
    const directory = this.settings.containers;
    if (directory?.selecting) known.traced = directory.described(known.info, [...known.cgroups.keys()]);
  }

  /** A container the runtime knows, in a cgroup whose path did not name it (a custom cgroup parent). */
  private attachByPid(known: Known, pid: number): void {
    const cgroupPath = pid > 0 ? this.cgroupPathOf(pid) : undefined;
    const cgroupId = cgroupPath === undefined ? undefined : this.deps.cgroups.idOf(cgroupPath);
    if (cgroupId !== undefined && cgroupPath !== undefined && cgroupPath !== '/') this.index.attachCgroup(cgroupId, cgroupPath, known);
  }

  private startLookup(known: Known): void {
    if (this.stopped || this.lookups.has(known.id)) return;
    this.lookups.add(known.id);
    // containerd knows a container before making its cgroup: a two-level path it does not know at once is no container.
    const budget = known.certain ? this.config.pending.deadlineMs : Math.min(UNCERTAIN_LOOKUP_MS, this.config.pending.deadlineMs);
    void this.lookup(known, 0, this.deps.now() + budget);
  }

  /** Every runtime is asked by id at once, retried with backoff until `until`; then another agent's map; then the path alone. */
  private async lookup(known: Known, attempt: number, until: number): Promise<void> {
    const found =
      this.clients.length === 0 ? undefined : await getFromRuntimes([known.id], this.clients, (richer) => this.describe(richer));
    if (this.stopped) return void this.lookups.delete(known.id);
    if (found?.sandbox) {
      // A pod's pause container: its records carry what its cgroup path says.
      this.lookups.delete(known.id);
      return this.settle(known);
    }
    if (found) this.describe(found);
    const fromMap = known.described ? undefined : this.sourceEntryFor(known);
    if (fromMap) this.describe(infoFromEntry(fromMap));
    const delay = Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** attempt);
    if (known.described || this.deps.now() + delay >= until || (this.clients.length === 0 && !this.source)) {
      this.lookups.delete(known.id);
      if (!known.described) this.settle(known);
      return;
    }
    const t = setTimeout(() => void this.lookup(known, attempt + 1, until), delay);
    t.unref();
  }

  /** No one describes it: what waited goes on with what its cgroup path says (or as no container, for an unconfirmed path). */
  private settle(known: Known): void {
    known.settled = true;
    if (known.certain) {
      this.decide(known);
      this.publish(known);
    } else this.index.demote(known);
    const group = this.pending.take(known.id);
    if (group) this.release([group], known.certain ? known.info : undefined, known.certain ? 'path_only' : 'not_container');
  }

  /** Another agent's entry for this container, by id: its mount namespace alone could be another container's. */
  private sourceEntryFor(known: Known): ContainersMapEntry | undefined {
    // The other agent may write the entry a moment after the container starts.
    if (this.source && this.deps.now() - this.sourceReadAt >= SOURCE_REREAD_MS) this.followSource();
    return this.sourceById.get(known.id);
  }

  private async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    clearTimeout(this.deadlineTimer);
    clearTimeout(this.rescanTimer);
    await Promise.allSettled(this.clients.map((c) => c.close()));
    for (const group of this.pending.takeAll()) {
      const known = this.knownOf(group);
      this.release([group], known?.certain ? known.info : undefined, 'shutdown');
    }
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

  private knownOf(group: HeldGroup): Known | undefined {
    if (!group.key.startsWith(UNRESOLVED)) return this.index.get(group.key);
    return this.index.lookup(Number(group.key.slice(UNRESOLVED.length))) ?? undefined;
  }

  private openWriter(): PinnedMapWriter {
    const { writePath, maxEntries } = this.config.pinnedMap;
    let map: PinnedContainersMap;
    try {
      map = this.deps.maps.create(writePath, maxEntries);
    } catch (err) {
      throw new Error(
        `pinned containers map ${writePath}: ${(err as Error).message} ` +
          '(mount bpffs at /sys/fs/bpf and run as root; remove a stale map of another layout with `rm`; or set processors.container_enrichment.pinned_map.write: false)',
      );
    }
    return new PinnedMapWriter(map, this.counters, this.warn);
  }

  /**
   * Another agent's map (Inspektor Gadget layout) describes containers no
   * runtime client knows. Its entries are keyed by mount namespace, which a
   * new container may have reused: an entry is only ever applied to the
   * container its id names. It may appear or vanish at any time; one with
   * another layout is refused once, loudly, and never read.
   */
  private followSource(): void {
    const { readPath } = this.config.pinnedMap;
    if (this.source && !this.deps.maps.exists(readPath)) {
      // Unpinned by its owner: our fd would keep showing a map nobody updates.
      this.source.close();
      this.source = undefined;
      this.sourceById = new Map();
      this.settings.logger.info(`pinned map ${readPath} is gone`);
    }
    if (!this.source) {
      if (this.sourceRefused || !this.deps.maps.exists(readPath)) return;
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
      this.sourceById = new Map();
      return;
    }
    this.sourceById = new Map(entries.map((e) => [e.containerId, e]));
    this.sourceReadAt = this.deps.now();
    for (const entry of entries) {
      const known = this.index.get(entry.containerId);
      if (known && !known.described) this.describe(infoFromEntry(entry));
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
        this.warn.warn(
          `list-${client.runtime}`,
          `${client.runtime} at ${client.endpoint}: cannot list containers: ${(err as Error).message} (retrying every ${this.config.resyncIntervalMs} ms)`,
        );
      }
      return;
    } finally {
      this.listing.delete(client);
    }
    this.warn.reset(`list-${client.runtime}`);
    for (const info of list) {
      if (info.state !== 'stopped') this.describe(info);
    }
  }

  private onRuntimeEvent(client: RuntimeClient, event: RuntimeEvent): void {
    if (this.stopped) return;
    switch (event.kind) {
      case 'exited':
      case 'deleted': {
        this.fetching.delete(event.id);
        const known = this.index.get(event.id);
        if (known) this.exitContainer(known);
        return;
      }
      case 'oom':
        return;
      default:
        if (event.container) return this.describe(event.container);
        if (!this.index.get(event.id)) this.fetching.add(event.id);
        client.get(event.id).then(
          (info) => {
            // Exited before the answer and never known: describing it would make a live container nothing ever exits.
            const exitedMeanwhile = !this.fetching.delete(event.id) && !this.index.get(event.id);
            if (info && !exitedMeanwhile) this.describe(info);
          },
          (err: Error) => {
            this.fetching.delete(event.id);
            this.warn.warn(
              `get-${client.runtime}`,
              `${client.runtime}: cannot fetch container ${event.id} after its ${event.kind} event: ${err.message}`,
            );
          },
        );
    }
  }

  private armDeadline(): void {
    const due = this.pending.nextDeadline();
    if (due === undefined || (this.deadlineTimer && this.deadlineAt <= due)) return;
    clearTimeout(this.deadlineTimer);
    this.deadlineAt = due;
    this.deadlineTimer = setTimeout(
      () => {
        this.deadlineTimer = undefined;
        for (const group of this.pending.takeExpired()) {
          const known = this.knownOf(group);
          if (known && !known.settled) {
            known.settled = true;
            if (known.certain && !known.described) this.decide(known);
          }
          this.release(
            [group],
            known?.certain ? known.info : undefined,
            group.key.startsWith(UNRESOLVED) && !known ? 'unresolved' : 'deadline',
          );
        }
        this.armDeadline();
      },
      Math.max(0, due - this.deps.now()),
    );
    this.deadlineTimer.unref();
  }

  /**
   * Held records go downstream as one batch of their own, in their order.
   * `info`: the container (null: not a container's; undefined: unknown).
   * `reason`: why it goes without a full description; none: described.
   */
  private release(groups: HeldGroup[], info: ContainerInfo | null | undefined, reason?: UnenrichedReason): void {
    const records = groups.flatMap((g) => g.records);
    const offsets = new Uint32Array(records.length);
    let at = 0;
    records.forEach((r, k) => {
      offsets[k] = at;
      at += r.length;
    });
    if (info && this.index.get(info.id)?.traced === false) {
      this.settings.stage.drop(records.length, 'not_selected');
      return;
    }
    const batch = new EventBatch(Buffer.concat(records, at), offsets, groups[0].clock);
    batch.containers = new Array<ContainerInfo | null | undefined>(records.length).fill(info === null ? undefined : info);
    if (info === null) {
      this.counters.withoutMetadata.not_container += records.length;
      if (this.config.dropHostEvents) {
        this.settings.stage.drop(records.length, 'host_event');
        return;
      }
    } else if (reason) this.counters.withoutMetadata[reason] += records.length;
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
