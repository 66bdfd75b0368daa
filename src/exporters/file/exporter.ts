import { createWriteStream, openSync } from 'node:fs';
import type { Writable } from 'node:stream';
import type { EventBatch } from '../../events';
import type { ComponentSettings, Exporter } from '../../pipeline/component';
import { once } from '../../pipeline/component';
import { parseSize } from '../../pipeline/units';
import { countedPodMetadataPolicy } from '../log-mapping/pod-metadata';
import type { FileExporterConfig } from './config';
import { OtlpJsonEncoder } from './otlp-json';

/**
 * Appends one OTLP-JSON ExportLogsServiceRequest per batch, one per line, to
 * a file or stdout. Bytes handed to the stream but not yet written are
 * bounded by `max_queue_bytes`; a batch that would exceed it is dropped whole.
 */
export class FileExporter implements Exporter {
  private readonly encoder: OtlpJsonEncoder;
  private readonly maxQueueBytes: number;
  private out: Writable | undefined;
  private queuedBytes = 0;
  private closed = false;
  private failed: Error | undefined;

  constructor(
    private readonly config: FileExporterConfig,
    private readonly settings: ComponentSettings,
  ) {
    this.encoder = new OtlpJsonEncoder(
      settings.host,
      config.resource_attributes,
      countedPodMetadataPolicy(config.pod_metadata, settings.metrics, settings.id),
    );
    this.maxQueueBytes = parseSize(config.max_queue_bytes);
  }

  get target(): string {
    return this.config.path === '-' ? 'stdout' : this.config.path;
  }

  async start(): Promise<void> {
    if (this.config.path === '-') {
      // A closed pipe (EPIPE) is reported here, not thrown: records are then counted as dropped.
      process.stdout.on('error', this.onStreamError);
      this.out = process.stdout;
      return;
    }
    // Opened synchronously so a bad path fails start() with the reason, not a later stream error.
    let fd: number;
    try {
      fd = openSync(this.config.path, 'a', 0o640);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      const hint =
        e.code === 'ENOENT'
          ? 'create its directory'
          : e.code === 'EACCES' || e.code === 'EPERM'
            ? 'fix its permissions'
            : e.code === 'EISDIR'
              ? 'name a file, not a directory'
              : 'check the path';
      throw new Error(
        `cannot open ${this.config.path} for appending: ${e.code ?? e.message} (${hint}, or set exporters.file.path to - for stdout)`,
      );
    }
    const stream = createWriteStream(this.config.path, { fd });
    stream.on('error', this.onStreamError);
    this.out = stream;
  }

  async consumeLogs(batch: EventBatch): Promise<void> {
    const n = batch.length;
    if (n === 0) return;
    const stage = this.settings.stage;
    if (this.closed || !this.out) {
      stage.drop(n, 'shutdown');
      return;
    }
    if (this.failed) {
      stage.drop(n, 'export_failed');
      return;
    }
    const line = `${this.encoder.encode(batch)}\n`;
    const bytes = Buffer.byteLength(line);
    if (this.queuedBytes > 0 && this.queuedBytes + bytes > this.maxQueueBytes) {
      stage.drop(n, 'queue_full');
      return;
    }
    this.queuedBytes += bytes;
    this.out.write(line, (err) => {
      this.queuedBytes -= bytes;
      if (err) {
        this.fail(err);
        stage.drop(n, 'export_failed');
      } else {
        stage.send(n);
      }
    });
  }

  readonly shutdown = once(async () => {
    this.closed = true;
    const out = this.out;
    if (!out) return;
    if (out === process.stdout) {
      // Never end stdout: wait for what we queued to reach it.
      if (this.queuedBytes > 0 && !this.failed) await new Promise<void>((resolve) => out.write('', () => resolve()));
      process.stdout.off('error', this.onStreamError);
      return;
    }
    await new Promise<void>((resolve) => out.end(() => resolve()));
  });

  private readonly onStreamError = (err: Error): void => this.fail(err);

  private fail(err: Error): void {
    if (this.failed) return;
    this.failed = err;
    this.settings.logger.error(
      `writing OTLP-JSON to ${this.target} failed: ${err.message} (records are dropped from now on; fix the target and restart)`,
    );
  }
}
