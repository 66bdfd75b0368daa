import { Counter, Gauge, type Registry } from 'prom-client';
import type { BpfRecordName, ProgramStatus, SessionStats } from '../../native';
import { METRIC_PREFIX } from '../../pipeline/telemetry';

/** What the metrics read from one running receiver at scrape time. */
export interface BpfMetricsSource {
  readonly id: string;
  /** undefined once the session is closed. */
  stats(): SessionStats | undefined;
  programs(): ProgramStatus[];
  inFlight(): number;
}

/** The attribution records (cgroup_*) are counted too: a lost one costs a container's early records their fast path. */
const RECORDS: readonly BpfRecordName[] = ['exec', 'exit', 'open', 'connect', 'throttle', 'cgroup_mkdir', 'cgroup_rmdir'];
const BPF = `${METRIC_PREFIX}bpf_`;

/**
 * The BPF counters, registered once per registry and read from every live
 * receiver at scrape time (several `ebpf/<name>` receivers share the names).
 */
const sourcesByRegistry = new WeakMap<Registry, Set<BpfMetricsSource>>();

export function registerBpfMetrics(registry: Registry, source: BpfMetricsSource): () => void {
  let sources = sourcesByRegistry.get(registry);
  if (!sources) {
    sources = new Set();
    sourcesByRegistry.set(registry, sources);
    createCollectors(registry, sources);
  }
  sources.add(source);
  const live = sources;
  return () => {
    live.delete(source);
  };
}

function createCollectors(registry: Registry, sources: Set<BpfMetricsSource>): void {
  const perEvent = (name: string, help: string, pick: (s: SessionStats, e: BpfRecordName) => number) =>
    new Counter({
      name: `${BPF}${name}`,
      help,
      labelNames: ['component', 'event'],
      registers: [registry],
      collect() {
        this.reset();
        for (const src of sources) {
          const stats = src.stats();
          if (!stats) continue;
          for (const e of RECORDS) this.inc({ component: src.id, event: e }, pick(stats, e));
        }
      },
    });
  perEvent('events_produced_total', 'Records the BPF programs submitted to the ring buffer.', (s, e) => s[e].produced);
  perEvent(
    'events_dropped_total',
    'Records the BPF programs lost because the ring buffer was full (or memory for the arguments of a pending syscall ran out).',
    (s, e) => s[e].dropped,
  );
  perEvent('events_filtered_total', 'Events rejected in the kernel by the configured filters.', (s, e) => s[e].filtered);
  perEvent(
    'events_rate_limited_total',
    'Events dropped in the kernel because their container was over filters.rate_limit.per_container.',
    (s, e) => s[e].rateLimited,
  );

  const perSession = (name: string, help: string, pick: (s: SessionStats) => number) =>
    new Counter({
      name: `${BPF}${name}`,
      help,
      labelNames: ['component'],
      registers: [registry],
      collect() {
        this.reset();
        for (const src of sources) {
          const stats = src.stats();
          if (stats) this.inc({ component: src.id }, pick(stats));
        }
      },
    });
  perSession('ring_batches_total', 'Batches drained from the ring buffer and handed to the receiver.', (s) => s.batches);
  perSession('ring_records_total', 'Records drained from the ring buffer.', (s) => s.records);
  perSession('ring_bytes_total', 'Bytes of records drained from the ring buffer.', (s) => s.bytes);
  perSession('ring_malformed_total', 'Ring buffer samples with an impossible size, skipped.', (s) => s.malformed);

  new Gauge({
    name: `${BPF}program_loaded`,
    help: 'Whether a BPF program is loaded and attached (1) or was skipped (0; `doctor` says why).',
    labelNames: ['component', 'program', 'event'],
    registers: [registry],
    collect() {
      this.reset();
      for (const src of sources) {
        for (const p of src.programs()) this.set({ component: src.id, program: p.program, event: p.event }, p.loaded ? 1 : 0);
      }
    },
  });
  new Gauge({
    name: `${METRIC_PREFIX}ebpf_receiver_batches_in_flight`,
    help: 'Batches the eBPF receiver handed downstream that are not done yet (bounded by batch.max_in_flight).',
    labelNames: ['component'],
    registers: [registry],
    collect() {
      this.reset();
      for (const src of sources) this.set({ component: src.id }, src.inFlight());
    },
  });
}
