import { Counter, Gauge, type Registry } from 'prom-client';
import { METRIC_PREFIX } from '../../pipeline/telemetry';

const PREFIX = `${METRIC_PREFIX}enrichment_`;

export type UnenrichedReason = 'deadline' | 'overflow' | 'shutdown' | 'no_mntns' | 'unidentified';
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
  unidentifiedEvicted = 0;
  readonly releasedUnenriched: Record<UnenrichedReason, number> = { deadline: 0, overflow: 0, shutdown: 0, no_mntns: 0, unidentified: 0 };
  readonly mapErrors: Record<MapOp, number> = { update: 0, delete: 0, read: 0 };
}

/** What one processor instance reports; gauges are read when scraped. */
export interface EnrichmentSource {
  component: string;
  counters: EnrichmentCounters;
  pending(): number;
  indexSize(): number;
  tombstones(): number;
  indexRefused(): number;
  /** Namespaces recently found to be no known container. */
  unidentified(): number;
  /** Entries in our own pinned map (-1 when not writing) and in the source map (-1 when not open). */
  pinnedEntries(): { write: number; read: number };
  /** `cacheEvictions` only for clients with bounded caches. */
  runtimes(): Array<{ runtime: string; endpoint: string; up: boolean; cacheEvictions?: number }>;
}

const sourcesByRegistry = new WeakMap<Registry, Set<EnrichmentSource>>();

/**
 * Registers the enrichment metrics on `registry` once, however many processor
 * instances share it; each instance adds its source, labelled by component id.
 * Returns the function that removes it again.
 */
export function registerEnrichmentMetrics(registry: Registry, source: EnrichmentSource): () => void {
  let sources = sourcesByRegistry.get(registry);
  if (!sources) {
    sources = new Set();
    sourcesByRegistry.set(registry, sources);
    defineMetrics(registry, sources);
  }
  sources.add(source);
  return () => sources.delete(source);
}

function defineMetrics(registry: Registry, sources: Set<EnrichmentSource>): void {
  const counter = (name: string, help: string, read: (s: EnrichmentSource) => number) =>
    new Counter({
      name: `${PREFIX}${name}`,
      help,
      labelNames: ['component'],
      registers: [registry],
      collect() {
        this.reset();
        for (const s of sources) this.inc({ component: s.component }, read(s));
      },
    });
  const gauge = (name: string, help: string, read: (s: EnrichmentSource) => number) =>
    new Gauge({
      name: `${PREFIX}${name}`,
      help,
      labelNames: ['component'],
      registers: [registry],
      collect() {
        this.reset();
        for (const s of sources) this.set({ component: s.component }, read(s));
      },
    });

  /** One series per key of what `read` returns, e.g. drops by reason. */
  const countersBy = (name: string, help: string, label: string, read: (s: EnrichmentSource) => Record<string, number>) =>
    new Counter({
      name: `${PREFIX}${name}`,
      help,
      labelNames: ['component', label],
      registers: [registry],
      collect() {
        this.reset();
        for (const s of sources) {
          for (const [key, n] of Object.entries(read(s))) this.inc({ component: s.component, [label]: key }, n);
        }
      },
    });

  counter('hits_total', 'Records whose mount namespace was in the container index on arrival.', (s) => s.counters.hits);
  counter('misses_total', 'Records of a mount namespace unknown on arrival (held, or passed on unenriched).', (s) => s.counters.misses);
  counter('host_events_total', "Records from the host's own mount namespace.", (s) => s.counters.hostEvents);
  counter('released_enriched_total', 'Held records released with their container once it became known.', (s) => s.counters.releasedEnriched);
  countersBy('released_unenriched_total', 'Records of an unknown mount namespace passed on without a container, by reason (deadline; overflow of the pending bounds; shutdown; no_mntns: the kernel could not read the namespace; unidentified: the namespace missed its deadline recently and is not held again until the next resync).', 'reason', (s) => s.counters.releasedUnenriched);
  gauge('unidentified_namespaces', 'Namespaces that missed their deadline recently; their records pass on without waiting until the next resync.', (s) => s.unidentified());
  counter('unidentified_evicted_total', 'Unidentified namespaces forgotten early because max_containers of them were remembered.', (s) => s.counters.unidentifiedEvicted);
  gauge('pending_records', 'Records held while their container is looked up.', (s) => s.pending());
  gauge('index_containers', 'Live mount namespaces in the container index.', (s) => s.indexSize());
  gauge('tombstones', 'Exited containers kept resolvable for late events.', (s) => s.tombstones());
  counter('index_refused_total', 'Containers not indexed because max_containers was reached.', (s) => s.indexRefused());
  new Gauge({
    name: `${PREFIX}pinned_map_entries`,
    help: 'Entries in the pinned containers maps: ours (map="write") and the source one (map="read").',
    labelNames: ['component', 'map'],
    registers: [registry],
    collect() {
      this.reset();
      for (const s of sources) {
        const { write, read } = s.pinnedEntries();
        if (write >= 0) this.set({ component: s.component, map: 'write' }, write);
        if (read >= 0) this.set({ component: s.component, map: 'read' }, read);
      }
    },
  });
  countersBy('pinned_map_errors_total', 'Failed operations on the pinned containers maps, by operation.', 'op', (s) => s.counters.mapErrors);
  new Gauge({
    name: `${PREFIX}runtime_up`,
    help: 'Whether the last call to each container runtime succeeded (1) or not (0).',
    labelNames: ['component', 'runtime', 'endpoint'],
    registers: [registry],
    collect() {
      this.reset();
      for (const s of sources) {
        for (const r of s.runtimes()) this.set({ component: s.component, runtime: r.runtime, endpoint: r.endpoint }, r.up ? 1 : 0);
      }
    },
  });
  new Counter({
    name: `${PREFIX}runtime_cache_evictions_total`,
    help: "Entries a runtime client's bounded caches dropped because they were full (containerd: image digests, 1024; records prefetched at container creation, 256. docker/podman: image repository digests, 1024).",
    labelNames: ['component', 'runtime', 'endpoint'],
    registers: [registry],
    collect() {
      this.reset();
      for (const s of sources) {
        for (const r of s.runtimes()) {
          if (r.cacheEvictions !== undefined) this.inc({ component: s.component, runtime: r.runtime, endpoint: r.endpoint }, r.cacheEvictions);
        }
      }
    },
  });
}
