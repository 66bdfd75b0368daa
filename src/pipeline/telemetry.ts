import { Counter, Gauge, Registry } from 'prom-client';

export const METRIC_PREFIX = 'ebpf_container_otel_';

/** `create`, run once per registry: metrics that the instances of a component share are registered once. */
export function oncePerRegistry<T>(create: (registry: Registry) => T): (registry: Registry) => T {
  const made = new WeakMap<Registry, T>();
  return (registry) => {
    let t = made.get(registry);
    if (t === undefined) {
      t = create(registry);
      made.set(registry, t);
    }
    return t;
  };
}

/** A component instance whose metrics are read at scrape time. */
export interface MetricSource {
  /** The `component` label of its series: its id as written in the config, e.g. `exporters.otlp`. */
  readonly component: string;
}

/** Reports one value of a source, with the metric's further labels if it has any. */
export type Emit = (value: number, labels?: Record<string, string>) => void;

/** A counter or gauge whose values are read from each source when scraped. */
export interface SourcedMetric<S> {
  type: 'counter' | 'gauge';
  name: string;
  help: string;
  /** Labels besides `component`, which `read` gives with each value. */
  labels?: readonly string[];
  /** Emits the source's values; emitting none leaves the source out of this metric. */
  read(source: S, emit: Emit): void;
}

/**
 * Metrics that every instance of a component reports: registered once per registry, read at
 * scrape time from each registered source (plain numbers the hot path increments cost an
 * addition, not a metric call per event), each series labelled `component`. Returns
 * `register(registry, source)`, which returns the source's removal.
 */
export function componentMetrics<S extends MetricSource>(
  metrics: readonly SourcedMetric<S>[],
): (registry: Registry, source: S) => () => void {
  const sourcesIn = oncePerRegistry((registry) => {
    const sources = new Set<S>();
    for (const metric of metrics) defineSourced(registry, metric, sources);
    return sources;
  });
  return (registry, source) => {
    const sources = sourcesIn(registry);
    sources.add(source);
    return () => {
      sources.delete(source);
    };
  };
}

function defineSourced<S extends MetricSource>(registry: Registry, metric: SourcedMetric<S>, sources: Set<S>): void {
  function collect(this: Counter | Gauge): void {
    this.reset();
    for (const s of sources) {
      metric.read(s, (value, labels) => {
        const all = { component: s.component, ...labels };
        if (this instanceof Counter) this.inc(all, value);
        else this.set(all, value);
      });
    }
  }
  const config = {
    name: metric.name,
    help: metric.help,
    labelNames: ['component', ...(metric.labels ?? [])],
    registers: [registry],
    collect,
  };
  if (metric.type === 'counter') new Counter(config);
  else new Gauge(config);
}

/** Why records left the pipeline without being sent. Bounded set: it is a metric label. */
export type DropReason =
  'ringbuf' | 'filtered' | 'decode_error' | 'queue_full' | 'export_failed' | 'host_event' | 'not_selected' | 'rate_limited' | 'shutdown';

/**
 * The one place that counts, per component, what it received, dropped (with a
 * reason) and passed on. Plain numbers for snapshots and tests; the prom-client
 * collectors below read them at scrape time.
 */
export class StageCounters {
  received = 0;
  sent = 0;
  readonly dropped = new Map<DropReason, number>();

  constructor(readonly component: string) {}

  receive(n: number): void {
    this.received += n;
  }
  send(n: number): void {
    this.sent += n;
  }
  drop(n: number, reason: DropReason): void {
    if (n > 0) this.dropped.set(reason, (this.dropped.get(reason) ?? 0) + n);
  }
  droppedTotal(): number {
    let total = 0;
    for (const n of this.dropped.values()) total += n;
    return total;
  }
}

export interface StageSnapshot {
  component: string;
  received: number;
  sent: number;
  dropped: Record<string, number>;
}

/** The per-stage counters every component has, read from its StageCounters at scrape time. */
const registerStage = componentMetrics<StageCounters>([
  {
    type: 'counter',
    name: `${METRIC_PREFIX}records_received_total`,
    help: 'Records each pipeline component received.',
    read: (s, emit) => emit(s.received),
  },
  {
    type: 'counter',
    name: `${METRIC_PREFIX}records_sent_total`,
    help: 'Records each pipeline component passed on (exporters: delivered).',
    read: (s, emit) => emit(s.sent),
  },
  {
    type: 'counter',
    name: `${METRIC_PREFIX}records_dropped_total`,
    help: 'Records each pipeline component dropped, by reason.',
    labels: ['reason'],
    read: (s, emit) => {
      for (const [reason, n] of s.dropped) emit(n, { reason });
    },
  },
]);

export class PipelineTelemetry {
  private readonly stages = new Map<string, StageCounters>();

  constructor(readonly registry = new Registry()) {}

  stage(component: string): StageCounters {
    let s = this.stages.get(component);
    if (!s) {
      s = new StageCounters(component);
      this.stages.set(component, s);
      registerStage(this.registry, s);
    }
    return s;
  }

  snapshot(): StageSnapshot[] {
    return [...this.stages.values()].map((s) => ({
      component: s.component,
      received: s.received,
      sent: s.sent,
      dropped: Object.fromEntries(s.dropped),
    }));
  }
}
