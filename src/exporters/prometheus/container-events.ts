import { Counter, type Registry } from 'prom-client';
import { type ContainerInfo, EVENT_TYPE_NAMES, type EventBatch, RecordType } from '../../events';
import { BoundedMap } from '../../pipeline/bounded-map';
import { METRIC_PREFIX } from '../../pipeline/telemetry';

/** The labels of a per-container series; `k8s_pod` only with `pod_label: true`. */
interface SeriesLabels {
  container: string;
  k8s_namespace: string;
  k8s_workload_kind: string;
  k8s_workload_name: string;
  k8s_pod?: string;
}

interface Series {
  labels: SeriesLabels;
  /** Per event type code - 1. */
  counts: Float64Array;
  /** Records the kernel's per-container rate limit dropped (from the throttle stop records). */
  rateLimited: number;
}

const OTHER = 'other';
/**
 * Overflowed label sets remembered so each is counted once: the enrichment
 * processor hands out a new ContainerInfo for the same container on every
 * resync, so the object cannot be the identity. A key is a few hundred bytes
 * at most (k8s names are bounded), so this stays under ~2 MiB.
 */
export const OVERFLOW_MEMORY = 8192;
/** Records the enrichment processor could attribute to no container (nor to the host). */
const UNIDENTIFIED = 'unidentified';

/** Every series has the same label names: `fill` for the per-container ones, `pod` to add k8s_pod. */
function fixed(fill: string, container: string, pod: boolean): SeriesLabels {
  return { container, k8s_namespace: fill, k8s_workload_kind: fill, k8s_workload_name: fill, ...(pod ? { k8s_pod: fill } : {}) };
}

/**
 * A container's series: its namespace, its workload (the top-level controller: a Deployment's,
 * not its ReplicaSet's, a CronJob's, not its Job's) and its container name, so the pods of one
 * workload share their series; the pod's name only when asked for (one series per pod).
 */
function labelsOf(info: ContainerInfo, pod: boolean): SeriesLabels {
  const w = info.k8s?.workload;
  return {
    container: info.k8s?.containerName || info.name,
    k8s_namespace: info.k8s?.namespace ?? '',
    k8s_workload_kind: w?.kind ?? '',
    k8s_workload_name: w?.name ?? '',
    ...(pod ? { k8s_pod: info.k8s?.podName ?? '' } : {}),
  };
}

/** Per-container series labels of a counter, by whether `k8s_pod` is among them. */
export function containerSeriesLabelNames(pod: boolean): string[] {
  return ['container', 'k8s_namespace', 'k8s_workload_kind', 'k8s_workload_name', ...(pod ? ['k8s_pod'] : [])];
}

export interface ContainerEventCountersOptions {
  /** Distinct label sets with their own series; more count under container="other". */
  maxSeries: number;
  /** Add `k8s_pod`: one series per pod rather than per workload. */
  podLabel?: boolean;
  overflowMemory?: number;
}

/**
 * Per-container event counters with a cardinality cap: at most `maxSeries`
 * distinct (container, k8s_namespace, k8s_workload_kind, k8s_workload_name
 * [, k8s_pod]) label sets; events of further containers count under
 * container="other", and each such label set is counted once in the overflow
 * counter, as long as it is among the last `overflowMemory` overflowed ones
 * (beyond that the oldest is forgotten, and counted again if it comes back;
 * the forgetting is counted too).
 */
export class ContainerEventCounters {
  private readonly series = new Map<string, Series>();
  private readonly byInfo = new WeakMap<ContainerInfo, Series>();
  private readonly maxSeries: number;
  private readonly podLabel: boolean;
  private readonly host: Series;
  private readonly other: Series;
  private readonly unidentified: Series;
  /** Evictions are the overflowed containers forgotten. */
  private readonly overflowedKeys: BoundedMap<string, true>;
  private overflowed = 0;

  constructor(registry: Registry, options: ContainerEventCountersOptions) {
    this.maxSeries = options.maxSeries;
    this.podLabel = options.podLabel ?? false;
    const overflowMemory = options.overflowMemory ?? OVERFLOW_MEMORY;
    this.overflowedKeys = new BoundedMap({ max: overflowMemory });
    const pod = this.podLabel;
    const counts = () => new Float64Array(EVENT_TYPE_NAMES.length);
    this.host = { labels: fixed('', '', pod), counts: counts(), rateLimited: 0 };
    this.other = { labels: fixed(OTHER, OTHER, pod), counts: counts(), rateLimited: 0 };
    this.unidentified = { labels: fixed('', UNIDENTIFIED, pod), counts: counts(), rateLimited: 0 };
    const all = () => this.all();
    const overflowed = () => this.overflowed;
    const forgotten = () => this.overflowedKeys.evictions;
    new Counter({
      name: `${METRIC_PREFIX}container_events_total`,
      help: `Kernel events by container (namespace, workload kind and name, container name${pod ? ', pod' : ''}) and event type. container="" is the host; container="${UNIDENTIFIED}" a mount namespace enrichment could not attribute; beyond the series cap containers count as container="${OTHER}".`,
      labelNames: [...containerSeriesLabelNames(pod), 'event'],
      registers: [registry],
      collect() {
        this.reset();
        for (const s of all()) {
          for (let t = 0; t < EVENT_TYPE_NAMES.length; t++) {
            if (s.counts[t] > 0) this.inc({ ...s.labels, event: EVENT_TYPE_NAMES[t] }, s.counts[t]);
          }
        }
      },
    });
    new Counter({
      name: `${METRIC_PREFIX}container_records_rate_limited_total`,
      help: 'Records the kernel dropped because their container was over receivers.ebpf.filters.rate_limit.per_container, by container (the same series and cap as container_events_total); counted when the throttle ends.',
      labelNames: containerSeriesLabelNames(pod),
      registers: [registry],
      collect() {
        this.reset();
        for (const s of all()) if (s.rateLimited > 0) this.inc({ ...s.labels }, s.rateLimited);
      },
    });
    new Counter({
      name: `${METRIC_PREFIX}container_series_overflow_total`,
      help: `Containers (distinct ${containerSeriesLabelNames(pod).join(', ')} label sets) whose events were counted under container="other" because max_container_series was reached.`,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(overflowed());
      },
    });
    new Counter({
      name: `${METRIC_PREFIX}container_series_overflow_forgotten_total`,
      help: `Overflowed containers no longer remembered (more than ${overflowMemory}); one that sends events again is counted again in container_series_overflow_total.`,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(forgotten());
      },
    });
  }

  count(batch: EventBatch): void {
    const containers = batch.containers;
    // No enrichment in the pipeline: counted with the host, as nothing is known.
    let s = this.host;
    // Records come in runs of one container: its series is looked up once per run.
    let runInfo: ContainerInfo | null | undefined = null;
    for (let i = 0; i < batch.length; i++) {
      if (containers && containers[i] !== runInfo) {
        runInfo = containers[i];
        s = this.seriesOf(runInfo);
      }
      const type = batch.typeCode(i);
      s.counts[type - 1]++;
      if (type === RecordType.throttle && !batch.throttleStarted(i)) s.rateLimited += batch.throttleDropped(i);
    }
  }

  private seriesOf(info: ContainerInfo | null | undefined): Series {
    if (info === null) return this.host;
    if (info === undefined) return this.unidentified;
    const cached = this.byInfo.get(info);
    if (cached) return cached;
    const labels = labelsOf(info, this.podLabel);
    const key = `${labels.container}\0${labels.k8s_namespace}\0${labels.k8s_workload_kind}\0${labels.k8s_workload_name}\0${labels.k8s_pod ?? ''}`;
    let s = this.series.get(key);
    if (!s) {
      if (this.series.size >= this.maxSeries) {
        this.noteOverflow(key);
        s = this.other;
      } else {
        s = { labels, counts: new Float64Array(EVENT_TYPE_NAMES.length), rateLimited: 0 };
        this.series.set(key, s);
      }
    }
    this.byInfo.set(info, s);
    return s;
  }

  private noteOverflow(key: string): void {
    if (this.overflowedKeys.has(key)) return;
    this.overflowed++;
    this.overflowedKeys.set(key, true);
  }

  private *all(): Iterable<Series> {
    yield this.host;
    yield this.unidentified;
    yield* this.series.values();
    yield this.other;
  }
}
