import type { EventBatch } from '../../events';
import type { ComponentSettings, Exporter, ExporterFactory } from '../../pipeline/component';

/**
 * Keeps every batch it is given, in memory, for tests (ours and users'):
 * `MemoryExporter.byId(id)` finds the instance a pipeline created.
 */
export class MemoryExporter implements Exporter {
  private static readonly instances = new Map<string, MemoryExporter>();
  readonly batches: EventBatch[] = [];
  readonly lifecycle: string[] = [];

  constructor(private readonly settings: ComponentSettings) {
    MemoryExporter.instances.set(settings.id, this);
  }

  static byId(id: string): MemoryExporter | undefined {
    return MemoryExporter.instances.get(id);
  }

  get recordCount(): number {
    return this.batches.reduce((n, b) => n + b.length, 0);
  }

  async start(): Promise<void> {
    this.lifecycle.push('start');
  }

  async consumeLogs(batch: EventBatch): Promise<void> {
    this.batches.push(batch);
    this.settings.stage.send(batch.length);
  }

  async shutdown(): Promise<void> {
    this.lifecycle.push('shutdown');
  }
}

/** Not part of the config schema: tests pass it to the Service explicitly. */
export const memoryExporterFactory: ExporterFactory<Record<string, never>> = {
  kind: 'exporter',
  type: 'memory',
  createDefaultConfig: () => ({}),
  create: (_config, settings) => new MemoryExporter(settings),
};
