import { Registry } from 'prom-client';
import type { BootClock, EventBatch } from '../events';
import { ContainerDirectory } from './containers';
import { type AgentConfig, type ComponentKind, ConfigError, componentType, resolveComponent } from './config';
import type { Component, ComponentSettings, Factory, HostInfo, LogsConsumer } from './component';
import type { Logger } from './logger';
import { PipelineTelemetry, type StageCounters } from './telemetry';
import { parseEndpoint, TelemetryServer } from './telemetry-server';

export interface ServiceOptions {
  factories: readonly Factory[];
  logger: Logger;
  host: HostInfo;
  clock: BootClock;
  registry?: Registry;
}

interface Built {
  id: string;
  component: Component;
}

/**
 * Wires `service.pipelines.logs` into components and runs their lifecycle:
 * start exporters → processors → receivers, shut down in reverse, each once.
 */
export class Service {
  readonly telemetry: PipelineTelemetry;
  private readonly exporters: Built[] = [];
  private readonly processors: Built[] = [];
  private readonly receivers: Built[] = [];
  private shuttingDown: Promise<void> | undefined;
  /** The agent's own metrics endpoint; undefined when a Prometheus exporter serves them or it is off. */
  readonly telemetryServer: TelemetryServer | undefined;

  constructor(
    config: AgentConfig,
    private readonly options: ServiceOptions,
  ) {
    this.telemetry = new PipelineTelemetry(options.registry ?? new Registry());
    const problems: string[] = [];
    const logs = config.service.pipelines.logs;
    const containers = new ContainerDirectory();
    const settingsFor = (kind: ComponentKind, id: string): ComponentSettings => ({
      id: `${kind}.${id}`,
      logger: options.logger.child(`${kind}.${id}`),
      metrics: this.telemetry.registry,
      stage: this.telemetry.stage(`${kind}.${id}`),
      host: options.host,
      clock: options.clock,
      containers,
    });
    const prepare = <F extends Factory>(
      kind: ComponentKind,
      id: string,
    ): { factory: F; config: unknown; settings: ComponentSettings } | undefined => {
      const resolved = resolveComponent<F>(options.factories, kind, id, config[kind][id]);
      problems.push(...resolved.problems);
      return resolved.factory ? { factory: resolved.factory, config: resolved.config, settings: settingsFor(kind, id) } : undefined;
    };

    const exporterConsumers: LogsConsumer[] = [];
    const prometheusEndpoints: string[] = [];
    for (const id of logs.exporters) {
      const p = prepare<Extract<Factory, { kind: 'exporter' }>>('exporters', id);
      if (p && componentType(id) === 'prometheus') prometheusEndpoints.push((p.config as { endpoint: string }).endpoint);
      if (!p || problems.length) continue;
      const exporter = p.factory.create(p.config, p.settings);
      this.exporters.push({ id: `exporters.${id}`, component: exporter });
      exporterConsumers.push(counting(exporter, p.settings.stage));
    }
    let next: LogsConsumer = fanOut(exporterConsumers);
    for (const id of [...logs.processors].reverse()) {
      const p = prepare<Extract<Factory, { kind: 'processor' }>>('processors', id);
      if (!p || problems.length) continue;
      const processor = p.factory.create(p.config, p.settings, sending(next, p.settings.stage));
      this.processors.unshift({ id: `processors.${id}`, component: processor });
      next = counting(processor, p.settings.stage);
    }
    for (const id of logs.receivers) {
      const p = prepare<Extract<Factory, { kind: 'receiver' }>>('receivers', id);
      if (!p || problems.length) continue;
      this.receivers.push({ id: `receivers.${id}`, component: p.factory.create(p.config, p.settings, sending(next, p.settings.stage)) });
    }
    const address = telemetryAddress(config, prometheusEndpoints, problems);
    if (problems.length) throw new ConfigError(problems, 'service.pipelines.logs');
    if (address)
      this.telemetryServer = new TelemetryServer(
        address,
        'service.telemetry.metrics.address',
        "the agent's telemetry",
        this.telemetry.registry,
        options.logger.child('service'),
      );
  }

  /** Exporters first, so nothing produced has nowhere to go; a failed start shuts down what started. */
  async start(): Promise<void> {
    // Up before the components: /healthz answers while the BPF programs load (seconds).
    await this.telemetryServer?.start();
    for (const built of [...this.exporters, ...this.processors, ...this.receivers]) {
      try {
        await built.component.start();
      } catch (err) {
        await this.shutdown();
        throw new Error(`${built.id}: failed to start: ${(err as Error).message}`);
      }
      this.options.logger.debug(`started ${built.id}`);
    }
    if (this.telemetryServer) this.telemetryServer.ready = true;
  }

  /** Receivers first, so in-flight data drains into processors and exporters, which flush. */
  shutdown(): Promise<void> {
    this.shuttingDown ??= (async () => {
      if (this.telemetryServer) this.telemetryServer.ready = false;
      const order = [...this.receivers, ...this.processors, ...this.exporters];
      for (const built of order) {
        try {
          await built.component.shutdown();
          this.options.logger.debug(`stopped ${built.id}`);
        } catch (err) {
          this.options.logger.error(`${built.id}: shutdown failed: ${(err as Error).message}`);
        }
      }
      await this.telemetryServer?.stop();
    })();
    return this.shuttingDown;
  }

  componentIds(): string[] {
    return [...this.exporters, ...this.processors, ...this.receivers].map((b) => b.id);
  }
}

/** Where the agent's own metrics are served when no Prometheus exporter in the pipeline serves them. */
export const DEFAULT_TELEMETRY_ADDRESS = '0.0.0.0:9464';

/**
 * `service.telemetry.metrics.address`; unset: the default, unless a
 * Prometheus exporter in the pipeline serves the same registry already (as
 * before this setting existed); '' turns it off.
 */
function telemetryAddress(config: AgentConfig, prometheusEndpoints: string[], problems: string[]): string {
  const address = config.service.telemetry?.metrics?.address;
  if (address === undefined) return prometheusEndpoints.length ? '' : DEFAULT_TELEMETRY_ADDRESS;
  if (address === '') return '';
  try {
    parseEndpoint(address);
  } catch (err) {
    problems.push(`service.telemetry.metrics.address: ${(err as Error).message.replace(/^endpoint: /, '')}`);
    return '';
  }
  const same = (a: string, b: string) => parseEndpoint(a).port === parseEndpoint(b).port && parseEndpoint(a).port !== 0;
  for (const endpoint of prometheusEndpoints) {
    if (same(address, endpoint)) {
      problems.push(
        `service.telemetry.metrics.address: "${address}" is also exporters.prometheus.endpoint; the exporter serves every metric there already: ` +
          'remove service.telemetry.metrics.address, or give it another port',
      );
    }
  }
  return address;
}

function counting(target: LogsConsumer, stage: StageCounters): LogsConsumer {
  return {
    consumeLogs(batch: EventBatch) {
      stage.receive(batch.length);
      return target.consumeLogs(batch);
    },
  };
}

function sending(next: LogsConsumer, stage: StageCounters): LogsConsumer {
  return {
    consumeLogs(batch: EventBatch) {
      stage.send(batch.length);
      return next.consumeLogs(batch);
    },
  };
}

/** Every exporter sees every batch; one failing exporter does not starve the others. */
function fanOut(consumers: LogsConsumer[]): LogsConsumer {
  if (consumers.length === 1) return consumers[0];
  return {
    async consumeLogs(batch: EventBatch) {
      const results = await Promise.allSettled(consumers.map((c) => c.consumeLogs(batch)));
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    },
  };
}
