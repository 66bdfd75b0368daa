import { RECORD_TYPE_NAMES } from '../../events';
import type { BpfRecordName, ProgramStatus, SessionStats } from '../../native';
import { METRIC_PREFIX, type MetricSource, type SourcedMetric, componentMetrics } from '../../pipeline/telemetry';

/** What the metrics read from one running receiver at scrape time. */
export interface BpfMetricsSource extends MetricSource {
  /** undefined once the session is closed. */
  stats(): SessionStats | undefined;
  programs(): ProgramStatus[];
  inFlight(): number;
}

const BPF = `${METRIC_PREFIX}bpf_`;

/** Per record type, from the session's stats while it is open. */
const perEvent = (name: string, help: string, pick: (s: SessionStats, e: BpfRecordName) => number): SourcedMetric<BpfMetricsSource> => ({
  type: 'counter',
  name: `${BPF}${name}`,
  help,
  labels: ['event'],
  read: (src, emit) => {
    const stats = src.stats();
    // The attribution records (cgroup_*) are counted too: a lost one costs a container's early records their fast path.
    if (stats) for (const e of RECORD_TYPE_NAMES) emit(pick(stats, e), { event: e });
  },
});

/** Of the session as a whole, while it is open. */
const perSession = (name: string, help: string, pick: (s: SessionStats) => number): SourcedMetric<BpfMetricsSource> => ({
  type: 'counter',
  name: `${BPF}${name}`,
  help,
  read: (src, emit) => {
    const stats = src.stats();
    if (stats) emit(pick(stats));
  },
});

/**
 * The BPF counters, registered once per registry and read from every live
 * receiver at scrape time (several `ebpf/<name>` receivers share the names).
 */
export const registerBpfMetrics = componentMetrics<BpfMetricsSource>([
  perEvent('events_produced_total', 'Records the BPF programs submitted to their ring buffer.', (s, e) => s[e].produced),
  perEvent(
    'events_dropped_total',
    "Records the BPF programs lost because their ring buffer was full (the events', or for cgroup_* the cgroup records' own) or memory for the arguments of a pending syscall ran out.",
    (s, e) => s[e].dropped,
  ),
  perEvent('events_filtered_total', 'Events rejected in the kernel by the configured filters.', (s, e) => s[e].filtered),
  perEvent(
    'events_rate_limited_total',
    'Events dropped in the kernel because their container was over filters.rate_limit.per_container.',
    (s, e) => s[e].rateLimited,
  ),
  perSession(
    'ring_batches_total',
    'Batches drained from the ring buffers (events and cgroup records) and handed to the receiver.',
    (s) => s.batches,
  ),
  perSession('ring_records_total', 'Records drained from the ring buffers (events and cgroup records).', (s) => s.records),
  perSession('ring_bytes_total', 'Bytes of records drained from the ring buffers.', (s) => s.bytes),
  perSession(
    'ring_malformed_total',
    'Ring buffer samples the drain skipped: of either ring with an impossible size, or event records failing the checks of EventBatch.parse (version, type, lengths).',
    (s) => s.malformed,
  ),
  {
    type: 'gauge',
    name: `${BPF}program_loaded`,
    help: 'Whether a BPF program is loaded and attached (1) or was skipped (0; `doctor` says why).',
    labels: ['program', 'event'],
    read: (src, emit) => {
      for (const p of src.programs()) emit(p.loaded ? 1 : 0, { program: p.program, event: p.event });
    },
  },
  {
    type: 'gauge',
    name: `${METRIC_PREFIX}ebpf_receiver_batches_in_flight`,
    help: 'Batches the eBPF receiver handed downstream that are not done yet (bounded by batch.max_in_flight).',
    read: (src, emit) => emit(src.inFlight()),
  },
]);
