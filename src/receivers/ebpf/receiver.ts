import { EventBatch, TRACED_EVENT_NAMES } from '../../events';
import { detectContainerHierarchy } from '../../host/cgroups';
import { bpfDeniedCause } from '../../host/capabilities';
import { cachedKernelNamespaces, resolveHostLayout } from '../../host/layout';
import { hostMountNamespace } from '../../host/namespaces';
import { openBpfSession } from '../../native';
import type { BpfSession, EventTypeCounters, ProgramStatus, SessionStats } from '../../native';
import { type ComponentSettings, type LogsConsumer, type Receiver, once } from '../../pipeline/component';
import { WarnOnce } from '../../pipeline/logger';
import { type EbpfReceiverConfig, toSessionOptions } from './config';
import { registerBpfMetrics } from './metrics';
import { compileSelection } from './selection';

/** Kernel counters are polled for ring-buffer drop deltas this often. */
const STATS_INTERVAL_MS = 1000;
/** The boot-time → epoch offset follows wall-clock steps (NTP) this often. */
const CLOCK_REFRESH_MS = 60_000;

/**
 * Loads the BPF programs through the addon and passes each drained batch
 * downstream: parse (header offsets only), count, hand off with a bounded
 * number of batches in flight. No per-event callback, promise or timer.
 */
export class EbpfReceiver implements Receiver {
  private session: BpfSession | undefined;
  private programStatus: ProgramStatus[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private droppedSeen = 0;
  private rateLimitedSeen = 0;
  private stopListening: (() => void) | undefined;
  private malformedSeen = 0;
  private timer: NodeJS.Timeout | undefined;
  private unregister: (() => void) | undefined;
  private lastClockRefresh = Date.now();
  private readonly warnOnce: WarnOnce;

  constructor(
    private readonly config: EbpfReceiverConfig,
    private readonly settings: ComponentSettings,
    private readonly next: LogsConsumer,
  ) {
    this.warnOnce = new WarnOnce(settings.logger);
  }

  async start(): Promise<void> {
    const { logger } = this.settings;
    try {
      // In a container the host's /proc and cgroup tree are where src/host/layout.ts finds them (/host/...).
      const layout = resolveHostLayout();
      const host = {
        hierarchy: detectContainerHierarchy(layout.cgroup),
        hostMntns: hostMountNamespace(layout.proc, logger, cachedKernelNamespaces),
      };
      this.session = openBpfSession(toSessionOptions(this.config, process.pid, host), (buffer, backing, cgroupBytes, events) =>
        this.onBatch(buffer, backing, cgroupBytes, events),
      );
    } catch (err) {
      const msg = (err as Error).message;
      const hint = /Operation not permitted|EPERM|Permission denied/.test(msg)
        ? ` (not permitted, not a missing kernel feature: ${bpfDeniedCause()})`
        : '';
      throw new Error(`${this.settings.id}: cannot start the eBPF receiver: ${msg}${hint}`);
    }
    this.selectContainers(this.session);
    this.programStatus = this.session.programs();
    for (const p of this.programStatus) {
      if (p.loaded) continue;
      const msg = `BPF program ${p.program} (${p.event} events) not running: ${p.reason}`;
      if (p.reason.startsWith('disabled by config') || p.reason.startsWith('event type')) logger.debug(msg);
      else logger.warn(msg);
    }
    const running = TRACED_EVENT_NAMES.filter((e) => this.programStatus.some((p) => p.event === e && p.loaded));
    logger.info(`tracing ${running.join(', ')} events${describeFilters(this.config)}`);
    this.unregister = registerBpfMetrics(this.settings.metrics, {
      component: this.settings.id,
      stats: () => this.stats(),
      programs: () => this.programStatus,
      inFlight: () => this.inFlight.size,
    });
    this.timer = setInterval(() => this.poll(), STATS_INTERVAL_MS);
    this.timer.unref();
  }

  readonly shutdown = once(async () => {
    if (this.timer) clearInterval(this.timer);
    this.stopListening?.();
    if (this.session) {
      this.poll();
      // Detached and drained: the kernel's final counters close the loss chain exactly.
      const final = this.session.close();
      this.session = undefined;
      if (final) {
        this.account(final);
        this.settings.logger.info(`kernel counters at detach ${JSON.stringify(kernelCounters(final))}`);
      }
    }
    this.unregister?.();
    await Promise.allSettled([...this.inFlight]);
  });

  /**
   * filters.containers: the enrichment processor describes each container;
   * the verdict goes into the kernel, keyed by the container's cgroups, so an
   * unselected container costs one map lookup per event from then on.
   */
  private selectContainers(session: BpfSession): void {
    const selected = compileSelection(this.config.filters.containers);
    if (!selected) return;
    const directory = this.settings.containers;
    if (!directory?.describer) {
      session.close();
      throw new Error(
        `${this.settings.id}: filters.containers selects containers by their metadata, which only the container_enrichment processor knows; ` +
          'add it to this pipeline (service.pipelines.logs.processors), or remove filters.containers',
      );
    }
    this.stopListening = directory.listen({
      described: (info, cgroupIds) => {
        const traced = selected(info);
        for (const id of cgroupIds) {
          try {
            session.setVerdict(id, traced);
          } catch (err) {
            // Still filtered downstream (the processor drops what no receiver wants); only the kernel-side saving is lost.
            this.warnOnce.warn(
              'verdicts',
              `${this.settings.id}: cannot hand the kernel the verdict for container ${info.id}: ${(err as Error).message}`,
            );
          }
        }
        return traced;
      },
      forgotten: (cgroupIds) => {
        for (const id of cgroupIds) session.clearVerdict(id);
      },
    });
  }

  /** Which programs run and why others do not. */
  programs(): ProgramStatus[] {
    return this.programStatus;
  }

  /** The kernel and drain counters; undefined when not running. */
  stats(): SessionStats | undefined {
    return this.session?.stats();
  }

  /**
   * A drained batch downstream. Its Buffer goes back to the addon's pool once
   * downstream is done with it (the promise settled): consumers read a batch
   * while they consume it, and copy what they keep (docs/design.md, batches).
   */
  private onBatch(buffer: Buffer, backing: Buffer, cgroupBytes: number, events: number): void {
    const { stage } = this.settings;
    const { batch, malformed } = EventBatch.fromDrain(buffer, backing, cgroupBytes, events, this.settings.clock);
    stage.receive(batch.length + malformed);
    stage.drop(malformed, 'decode_error');
    if (batch.length === 0 && batch.cgroupChanges.length === 0) {
      this.session?.release(backing);
      return;
    }
    if (this.inFlight.size >= this.config.batch.max_in_flight && batch.cgroupChanges.length === 0) {
      // Downstream is slower than the kernel: shed here, counted, instead of piling up promises.
      // Never a batch carrying cgroup changes: attribution of everything after depends on them.
      stage.drop(batch.length, 'queue_full');
      this.session?.release(backing);
      return;
    }
    // `sent` is counted by the service's wrapper around `next`.
    const done: Promise<void> = this.next
      .consumeLogs(batch)
      .catch((err: Error) => this.warnOnce.warn('consume', `${this.settings.id}: downstream rejected a batch: ${err.message}`))
      .finally(() => {
        this.inFlight.delete(done);
        this.session?.release(backing);
      });
    this.inFlight.add(done);
  }

  /** Kernel-side losses become stage drops; the boot clock's offset is refreshed now and then. */
  private poll(): void {
    const stats = this.session?.stats();
    if (stats) this.account(stats);
    if (Date.now() - this.lastClockRefresh >= CLOCK_REFRESH_MS) {
      this.settings.clock.refresh();
      this.lastClockRefresh = Date.now();
    }
  }

  /** Kernel drops and skipped samples since the last look become stage drops. */
  private account(stats: SessionStats): void {
    let dropped = 0;
    for (const e of TRACED_EVENT_NAMES) dropped += stats[e].dropped;
    let rateLimited = 0;
    for (const e of TRACED_EVENT_NAMES) rateLimited += stats[e].rateLimited;
    this.settings.stage.drop(rateLimited - this.rateLimitedSeen, 'rate_limited');
    this.rateLimitedSeen = rateLimited;
    if (stats.cgroup_mkdir.dropped + stats.cgroup_rmdir.dropped > 0) {
      this.warnOnce.warn(
        'cgroup-dropped',
        `${this.settings.id}: the kernel dropped cgroup records (their own 1 MiB ring buffer was full: ~1,700 cgroups made or removed ` +
          'while the event loop did not drain): containers made meanwhile are learned later, from /proc',
      );
    }
    this.settings.stage.drop(dropped - this.droppedSeen, 'ringbuf');
    if (dropped > this.droppedSeen) {
      this.warnOnce.warn(
        'ringbuf',
        `${this.settings.id}: the kernel dropped records (ring buffer full); raise ring_buffer_size or filter more`,
      );
    }
    this.droppedSeen = dropped;
    // Samples the addon skipped (impossible size, failed checks) never reach the batch: count them here.
    this.settings.stage.drop(stats.malformed - this.malformedSeen, 'decode_error');
    this.malformedSeen = stats.malformed;
  }
}

/** The per-record-type kernel counters, without the drain counters, for the shutdown log. */
function kernelCounters(stats: SessionStats): Record<string, EventTypeCounters> {
  const out: Record<string, EventTypeCounters> = {};
  for (const [name, value] of Object.entries(stats)) if (typeof value === 'object') out[name] = value as EventTypeCounters;
  return out;
}

/** What the kernel filters, for the start-up log. */
function describeFilters(config: EbpfReceiverConfig): string {
  const f = config.filters;
  const parts: string[] = [];
  if (f.containers_only) parts.push("of processes outside the host's mount namespace (containers_only)");
  const c = f.containers;
  if (c.include.length) parts.push(`of containers matching ${JSON.stringify(c.include)}`);
  if (c.exclude.length) parts.push(`except containers matching ${JSON.stringify(c.exclude)}`);
  if (f.open.include_path_prefixes.length) parts.push(`opens only under ${f.open.include_path_prefixes.join(', ')}`);
  if (f.open.exclude_path_prefixes.length) parts.push(`no opens under ${f.open.exclude_path_prefixes.join(', ')}`);
  if (f.rate_limit.per_container)
    parts.push(`at most ${f.rate_limit.per_container} records/s per container (burst ${f.rate_limit.burst || f.rate_limit.per_container})`);
  return parts.length ? `; ${parts.join('; ')}` : '';
}
