import { Counter, type Registry } from 'prom-client';
import { type ContainerInfo, EVENT_TYPE_NAMES, type EventBatch } from '../../events';
import { METRIC_PREFIX } from '../../pipeline/telemetry';

interface Series {
  labels: { container: string; k8s_namespace: string; k8s_pod: string };
  /** Per event type code - 1. */
  counts: Float64Array;
}

const OTHER = 'other';
/** Records the enrichment processor could attribute to no container (nor to the host). */
const UNIDENTIFIED = 'unidentified';

function labelsOf(info: ContainerInfo | null): Series['labels'] {
  if (!info) return { container: '', k8s_namespace: '', k8s_pod: '' };
  return { container: info.k8s?.containerName || info.name, k8s_namespace: info.k8s?.namespace ?? '', k8s_pod: info.k8s?.podName ?? '' };
}

/**
 * Per-container event counters with a cardinality cap: at most `maxSeries`
 * distinct (container, k8s_namespace, k8s_pod) label sets; events of further
 * containers count under container="other", and each such container is
 * counted once in the overflow counter.
 */
export class ContainerEventCounters {
  private readonly series = new Map<string, Series>();
  private readonly byInfo = new WeakMap<ContainerInfo, Series>();
  private readonly host: Series = { labels: labelsOf(null), counts: new Float64Array(EVENT_TYPE_NAMES.length) };
  private readonly other: Series = { labels: { container: OTHER, k8s_namespace: OTHER, k8s_pod: OTHER }, counts: new Float64Array(EVENT_TYPE_NAMES.length) };
  private readonly unidentified: Series = { labels: { container: UNIDENTIFIED, k8s_namespace: '', k8s_pod: '' }, counts: new Float64Array(EVENT_TYPE_NAMES.length) };
  private overflowed = 0;

  constructor(registry: Registry, private readonly maxSeries: number) {
    const self = this;
    new Counter({
      name: `${METRIC_PREFIX}container_events_total`,
      help: `Kernel events by container and event type. container="" is the host; container="${UNIDENTIFIED}" a mount namespace enrichment could not attribute; beyond the series cap containers count as container="${OTHER}".`,
      labelNames: ['container', 'k8s_namespace', 'k8s_pod', 'event'],
      registers: [registry],
      collect() {
        this.reset();
        for (const s of self.all()) {
          for (let t = 0; t < EVENT_TYPE_NAMES.length; t++) {
            if (s.counts[t] > 0) this.inc({ ...s.labels, event: EVENT_TYPE_NAMES[t] }, s.counts[t]);
          }
        }
      },
    });
    new Counter({
      name: `${METRIC_PREFIX}container_series_overflow_total`,
      help: 'Containers whose events were counted under container="other" because max_container_series was reached.',
      registers: [registry],
      collect() {
        this.reset();
        this.inc(self.overflowed);
      },
    });
  }

  count(batch: EventBatch): void {
    const containers = batch.containers;
    for (let i = 0; i < batch.length; i++) {
      // No enrichment in the pipeline: counted with the host, as nothing is known.
      const s = containers ? this.seriesOf(containers[i]) : this.host;
      s.counts[batch.typeCode(i) - 1]++;
    }
  }

  private seriesOf(info: ContainerInfo | null | undefined): Series {
    if (info === null) return this.host;
    if (info === undefined) return this.unidentified;
    const cached = this.byInfo.get(info);
    if (cached) return cached;
    const labels = labelsOf(info);
    const key = `${labels.container}\0${labels.k8s_namespace}\0${labels.k8s_pod}`;
    let s = this.series.get(key);
    if (!s) {
      if (this.series.size >= this.maxSeries) {
        this.overflowed++;
        s = this.other;
      } else {
        s = { labels, counts: new Float64Array(EVENT_TYPE_NAMES.length) };
        this.series.set(key, s);
      }
    }
    this.byInfo.set(info, s);
    return s;
  }

  private *all(): Iterable<Series> {
    yield this.host;
    yield this.unidentified;
    yield* this.series.values();
    yield this.other;
  }
}
