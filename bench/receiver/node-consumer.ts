/**
 * The Node side of the receiver benchmark: the real eBPF receiver (addon
 * session → EventBatch.parse → stage counters → bounded hand-off) over the
 * same openat programs as c_consumer, with a downstream that reads one
 * header field per record, like the C baseline.
 *
 *   PRODUCER_PID=n node dist/bench/receiver/node-consumer.js
 * Prints "ready" once attached; on SIGINT prints JSON.
 */
import { Registry } from 'prom-client';
import { BootClock, type EventBatch } from '../../src/events';
import { nativeClockSource } from '../../src/native';
import { mergeDefaults } from '../../src/pipeline/config';
import { createLogger } from '../../src/pipeline/logger';
import { StageCounters } from '../../src/pipeline/telemetry';
import { type EbpfReceiver, ebpfReceiverFactory } from '../../src/receivers/ebpf';

const producerPid = Number(process.env.PRODUCER_PID ?? 0);
let records = 0;
let producerRecords = 0;

const stage = new StageCounters('receivers.ebpf');
const receiver = ebpfReceiverFactory.create(
  mergeDefaults(ebpfReceiverFactory.createDefaultConfig(), {
    events: ['open'],
    ring_buffer_size: '32MiB',
    disable_programs: ['enter_openat2', 'exit_openat2'],
    filters: { exclude_self: false },
  }),
  {
    id: 'receivers.ebpf',
    logger: createLogger('warn', 'bench'),
    metrics: new Registry(),
    stage,
    host: { hostname: 'bench', nodeName: '' },
    clock: new BootClock(nativeClockSource),
  },
  {
    async consumeLogs(batch: EventBatch): Promise<void> {
      for (let i = 0; i < batch.length; i++) if (batch.tgid(i) === producerPid) producerRecords++;
      records += batch.length;
    },
  },
) as EbpfReceiver;

async function main(): Promise<void> {
  await receiver.start();
  process.stdout.write('ready\n');
  const cpu0 = process.cpuUsage();
  const wall0 = process.hrtime.bigint();
  await new Promise<void>((resolve) => process.once('SIGINT', resolve));
  // One more drain interval so what is already in the ring gets counted, as the C side does.
  await new Promise((r) => setTimeout(r, 20));
  const stats = receiver.stats()!;
  const cpu = process.cpuUsage(cpu0);
  await receiver.shutdown();
  process.stdout.write(
    `${JSON.stringify({
      consumer: 'node',
      records,
      producerRecords,
      produced: stats.open.produced,
      dropped: stats.open.dropped,
      queueFull: stage.dropped.get('queue_full') ?? 0,
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
      cpuSystemSeconds: cpu.system / 1e6,
      wallSeconds: Number(process.hrtime.bigint() - wall0) / 1e9,
    })}\n`,
  );
}

main().catch((err: Error) => {
  process.stderr.write(`${err.message}\n`);
  process.exit(1);
});
