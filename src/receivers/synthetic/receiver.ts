import { statSync } from 'node:fs';
import { EventBatch, encodeRecords, type RecordSpec } from '../../events';
import type { ComponentSettings, LogsConsumer, Receiver } from '../../pipeline/component';
import type { SyntheticReceiverConfig } from './config';

const TICK_MS = 100;

/**
 * Produces exec records in the kernel layout at a fixed rate: a source for
 * exercising the pipeline where BPF cannot run, and for load tests.
 */
export class SyntheticReceiver implements Receiver {
  private timer: NodeJS.Timeout | undefined;
  private produced = 0;
  private credit = 0;
  private inFlight: Promise<void> = Promise.resolve();
  private readonly mntns: number;

  constructor(
    private readonly config: SyntheticReceiverConfig,
    private readonly settings: ComponentSettings,
    private readonly next: LogsConsumer,
  ) {
    this.mntns = config.mntns || statSync('/proc/self/ns/mnt').ino;
  }

  async start(): Promise<void> {
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.timer.unref();
  }

  async shutdown(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.inFlight;
  }

  private tick(): void {
    this.credit += (this.config.rate * TICK_MS) / 1000;
    let due = Math.floor(this.credit);
    if (this.config.count > 0) due = Math.min(due, this.config.count - this.produced);
    if (due <= 0) {
      if (this.config.count > 0 && this.produced >= this.config.count) clearInterval(this.timer);
      return;
    }
    this.credit -= due;
    while (due > 0) {
      const n = Math.min(due, this.config.batch_size);
      due -= n;
      this.emit(n);
    }
  }

  private emit(n: number): void {
    const specs: RecordSpec[] = [];
    // On the pipeline's boot clock, as the kernel would stamp them: converted and observed on one scale.
    const now = this.settings.clock.bootNowNs();
    for (let k = 0; k < n; k++) {
      const seq = this.produced + k;
      specs.push({
        type: 'exec',
        tsBootNs: now,
        pid: 100000 + (seq % 100000),
        ppid: process.pid,
        mntns: this.mntns,
        comm: 'synthetic',
        filename: '/bin/true',
        args: ['true', String(seq)],
      });
    }
    this.produced += n;
    const { batch } = EventBatch.parse(encodeRecords(specs), this.settings.clock);
    this.settings.stage.receive(batch.length);
    const delivery = this.next.consumeLogs(batch).catch((err: Error) => {
      this.settings.logger.warn(`batch of ${n} not delivered: ${err.message}`);
    });
    this.inFlight = Promise.all([this.inFlight, delivery]).then(() => undefined);
  }
}
