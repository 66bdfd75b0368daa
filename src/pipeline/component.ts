import type { Registry } from 'prom-client';
import type { BootClock, EventBatch } from '../events';
import type { ContainerDirectory } from './containers';
import type { Logger } from './logger';
import type { StageCounters } from './telemetry';

/**
 * Component contracts, shaped like the OpenTelemetry Collector's: a factory
 * turns typed config into a component; `start()` returns quickly and leaves
 * long work in the background; `shutdown()` runs once, is safe without
 * `start()`, and flushes what the component holds.
 */
export interface Component {
  start(): Promise<void>;
  shutdown(): Promise<void>;
}

/**
 * The data path: one call per batch, never per event. A batch's bytes are
 * the consumer's to read until the promise it returned settles; then the
 * receiver may reuse them (the eBPF receiver drains the next batches into
 * the same memory). A consumer that keeps records past that copies them, as
 * the enrichment processor's pending buffer does.
 */
export interface LogsConsumer {
  consumeLogs(batch: EventBatch): Promise<void>;
}

export type Receiver = Component;
export interface Processor extends Component, LogsConsumer {}
export interface Exporter extends Component, LogsConsumer {}

export interface HostInfo {
  hostname: string;
  /** Kubernetes node name (from config or NODE_NAME), '' off Kubernetes. */
  nodeName: string;
}

export interface ComponentSettings {
  /** `kind.id` as written in the config, e.g. `exporters.file/debug`. */
  id: string;
  logger: Logger;
  /** The agent's one prom-client registry; the prometheus exporter serves it. */
  metrics: Registry;
  /** This component's received / dropped / sent counters. */
  stage: StageCounters;
  host: HostInfo;
  clock: BootClock;
  /** Shared by the components of one service: containers as they are described (src/pipeline/containers.ts). */
  containers?: ContainerDirectory;
}

interface FactoryBase<C> {
  /** Config key, e.g. `ebpf`, `container_enrichment`, `otlp`. */
  type: string;
  createDefaultConfig(): C;
  /** Checks what the JSON schema cannot (cross-field rules); returns messages naming the key. */
  validate?(config: C): string[];
}

export interface ReceiverFactory<C = unknown> extends FactoryBase<C> {
  kind: 'receiver';
  create(config: C, settings: ComponentSettings, next: LogsConsumer): Receiver;
}

export interface ProcessorFactory<C = unknown> extends FactoryBase<C> {
  kind: 'processor';
  create(config: C, settings: ComponentSettings, next: LogsConsumer): Processor;
}

export interface ExporterFactory<C = unknown> extends FactoryBase<C> {
  kind: 'exporter';
  create(config: C, settings: ComponentSettings): Exporter;
}

export type Factory = ReceiverFactory | ProcessorFactory | ExporterFactory;

/** Makes `shutdown()` run once and be safe without `start()`. */
export function once(fn: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | undefined;
  return () => (running ??= fn());
}
