import { Counter, Registry } from 'prom-client';

export const METRIC_PREFIX = 'ebpf_container_otel_';

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

export class PipelineTelemetry {
  readonly registry: Registry;
  private readonly stages = new Map<string, StageCounters>();

  constructor(registry = new Registry()) {
    this.registry = registry;
    const stages = this.stages;
    new Counter({
      name: `${METRIC_PREFIX}records_received_total`,
      help: 'Records each pipeline component received.',
      labelNames: ['component'],
      registers: [registry],
      collect() {
        this.reset();
        for (const s of stages.values()) this.inc({ component: s.component }, s.received);
      },
    });
    new Counter({
      name: `${METRIC_PREFIX}records_sent_total`,
      help: 'Records each pipeline component passed on (exporters: delivered).',
      labelNames: ['component'],
      registers: [registry],
      collect() {
        this.reset();
        for (const s of stages.values()) this.inc({ component: s.component }, s.sent);
      },
    });
    new Counter({
      name: `${METRIC_PREFIX}records_dropped_total`,
      help: 'Records each pipeline component dropped, by reason.',
      labelNames: ['component', 'reason'],
      registers: [registry],
      collect() {
        this.reset();
        for (const s of stages.values()) {
          for (const [reason, n] of s.dropped) this.inc({ component: s.component, reason }, n);
        }
      },
    });
  }

  stage(component: string): StageCounters {
    let s = this.stages.get(component);
    if (!s) {
      s = new StageCounters(component);
      this.stages.set(component, s);
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
