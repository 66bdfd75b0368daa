import { METRIC_PREFIX, type MetricSource, type SourcedMetric, componentMetrics } from '../../pipeline/telemetry';

const PREFIX = `${METRIC_PREFIX}enrichment_`;

/**
 * Why a record went downstream without its container's full description:
 * path_only: its container is known from its cgroup path (id, runtime) and no runtime described it;
 * deadline: pending.deadline passed before a runtime answered (it carries what the path says, if anything);
 * overflow: the pending bounds were full; shutdown: the processor stopped while it waited;
 * not_container: outside the host's mount namespace, yet in no container's cgroup (a service with a private /tmp);
 * unresolved: its cgroup could not be found (the process and cgroup were gone);
 * no_cgroup: the kernel could not read the task's cgroup.
 */
export type UnenrichedReason = 'path_only' | 'deadline' | 'overflow' | 'shutdown' | 'not_container' | 'unresolved' | 'no_cgroup';
export type MapOp = 'update' | 'delete' | 'read';

/**
 * Plain numbers the hot path increments; prom-client reads them at scrape time,
 * so counting costs an addition, not a metric call per event.
 */
export class EnrichmentCounters {
  hits = 0;
  misses = 0;
  hostEvents = 0;
  releasedEnriched = 0;
  cgroupRescans = 0;
  readonly withoutMetadata: Record<UnenrichedReason, number> = {
    path_only: 0,
    deadline: 0,
    overflow: 0,
    shutdown: 0,
    not_container: 0,
    unresolved: 0,
    no_cgroup: 0,
  };
  readonly mapErrors: Record<MapOp, number> = { update: 0, delete: 0, read: 0 };
}

/** What one processor instance reports; gauges are read when scraped. */
export interface EnrichmentSource extends MetricSource {
  counters: EnrichmentCounters;
  pending(): number;
  /** Containers known by identity (cgroup), live and exited (kept for the tombstone TTL). */
  containers(): { live: number; exited: number };
  indexRefused(): number;
  /** Cgroups remembered as no container's that were forgotten to stay within bounds. */
  notContainerEvicted(): number;
  /** Entries in our own pinned map (-1 when not writing) and in the source map (-1 when not open). */
  pinnedEntries(): { write: number; read: number };
  /** `cacheEvictions` only for clients with bounded caches. */
  runtimes(): Array<{ runtime: string; endpoint: string; up: boolean; cacheEvictions?: number }>;
}

const counter = (name: string, help: string, read: (s: EnrichmentSource) => number): SourcedMetric<EnrichmentSource> => ({
  type: 'counter',
  name: `${PREFIX}${name}`,
  help,
  read: (s, emit) => emit(read(s)),
});

/** One series per key of what `read` returns, e.g. drops by reason. */
const countersBy = (
  name: string,
  help: string,
  label: string,
  read: (s: EnrichmentSource) => Record<string, number>,
): SourcedMetric<EnrichmentSource> => ({
  type: 'counter',
  name: `${PREFIX}${name}`,
  help,
  labels: [label],
  read: (s, emit) => {
    for (const [key, n] of Object.entries(read(s))) emit(n, { [label]: key });
  },
});

/**
 * Registers the enrichment metrics on `registry` once, however many processor
 * instances share it; each instance adds its source, labelled by component id.
 * Returns the function that removes it again.
 */
export const registerEnrichmentMetrics = componentMetrics<EnrichmentSource>([
  counter('hits_total', "Records whose container's description was known on arrival.", (s) => s.counters.hits),
  counter(
    'misses_total',
    'Records of a container not described yet, or of a cgroup not known yet, on arrival (held, or passed on).',
    (s) => s.counters.misses,
  ),
  counter(
    'host_events_total',
    "Records of host processes (the host's mount namespace, outside any container cgroup).",
    (s) => s.counters.hostEvents,
  ),
  counter(
    'released_enriched_total',
    'Held records released with their container once a runtime described it.',
    (s) => s.counters.releasedEnriched,
  ),
  countersBy(
    'records_without_metadata_total',
    "Records passed on without their container's full description, by reason: path_only (container id and runtime from its cgroup path, no runtime described it), deadline, overflow (pending bounds), shutdown, not_container (private mount namespace, no container cgroup), unresolved (cgroup not found), no_cgroup.",
    'reason',
    (s) => s.counters.withoutMetadata,
  ),
  {
    type: 'gauge',
    name: `${PREFIX}pending_records`,
    help: 'Records held while their container is looked up.',
    read: (s, emit) => emit(s.pending()),
  },
  {
    type: 'gauge',
    name: `${PREFIX}containers`,
    help: 'Containers known by identity (their cgroups): live, and exited ones kept resolvable for late records (tombstone_ttl).',
    labels: ['state'],
    read: (s, emit) => {
      const { live, exited } = s.containers();
      emit(live, { state: 'live' });
      emit(exited, { state: 'exited' });
    },
  },
  counter('index_refused_total', 'Containers not indexed because max_containers was reached.', (s) => s.indexRefused()),
  counter('not_container_cgroups_evicted_total', "Cgroups remembered as no container's forgotten to stay within 4 × max_containers.", (s) =>
    s.notContainerEvicted(),
  ),
  counter(
    'cgroup_rescans_total',
    'Walks of the cgroup tree for a cgroup no record announced (e.g. a cgroup record lost to a full ring buffer).',
    (s) => s.counters.cgroupRescans,
  ),
  {
    type: 'gauge',
    name: `${PREFIX}pinned_map_entries`,
    help: 'Entries in the pinned containers maps: ours (map="write") and the source one (map="read").',
    labels: ['map'],
    read: (s, emit) => {
      const { write, read } = s.pinnedEntries();
      if (write >= 0) emit(write, { map: 'write' });
      if (read >= 0) emit(read, { map: 'read' });
    },
  },
  countersBy(
    'pinned_map_errors_total',
    'Failed operations on the pinned containers maps, by operation.',
    'op',
    (s) => s.counters.mapErrors,
  ),
  {
    type: 'gauge',
    name: `${PREFIX}runtime_up`,
    help: 'Whether the last call to each container runtime succeeded (1) or not (0).',
    labels: ['runtime', 'endpoint'],
    read: (s, emit) => {
      for (const r of s.runtimes()) emit(r.up ? 1 : 0, { runtime: r.runtime, endpoint: r.endpoint });
    },
  },
  {
    type: 'counter',
    name: `${PREFIX}runtime_cache_evictions_total`,
    help: "Entries a runtime client's bounded caches dropped because they were full (containerd: image digests, 1024; records prefetched at container creation, 256. docker/podman: image repository digests, 1024. containerd, docker/podman: pods' labels and annotations, 1024. containerd, cri, docker/podman: containers the runtime has removed, 4096).",
    labels: ['runtime', 'endpoint'],
    read: (s, emit) => {
      for (const r of s.runtimes())
        if (r.cacheEvictions !== undefined) emit(r.cacheEvictions, { runtime: r.runtime, endpoint: r.endpoint });
    },
  },
]);
