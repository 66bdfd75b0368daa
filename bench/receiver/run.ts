/**
 * Receiver benchmark: the same BPF object (openat programs, 32 MiB ring,
 * NO_WAKEUP + 20 ms drain) read by a plain C libbpf consumer and by the Node
 * receiver, under the same producer (threads hammering openat on the empty
 * path, which fails with ENOENT before any path walk, so the syscall is
 * cheap and the traced programs dominate). Prints events/s, drops and CPU
 * for both, and the ratio.
 *
 *   bash bench/receiver/run.sh   (BENCH_SECONDS=5 ROUNDS=2 PRODUCER_THREADS=2 PRODUCER_PATH="" to change)
 */
import { type ChildProcess, spawn } from 'node:child_process';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { PACKAGE_ROOT } from '../../src/pipeline/paths';
import { decodeRate } from './decode';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const ROUNDS = Number(process.env.ROUNDS ?? 2);
const THREADS = Number(process.env.PRODUCER_THREADS ?? 2);
const OPEN_PATH = process.env.PRODUCER_PATH ?? '';
const BIN = path.join(PACKAGE_ROOT, 'build', 'bench', 'receiver');
const BPF_OBJECT = path.join(PACKAGE_ROOT, 'build', 'Release', 'obj', 'gen', 'ebpf_otel', 'ebpf_otel.bpf.o');

interface ConsumerResult {
  consumer: string;
  records: number;
  producerRecords: number;
  produced: number;
  dropped: number;
  queueFull?: number;
  cpuSeconds: number;
  wallSeconds: number;
}

function lines(child: ChildProcess): AsyncIterableIterator<string> {
  return readline.createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
}

async function round(kind: 'c' | 'node'): Promise<ConsumerResult & { calls: number }> {
  const producer = spawn(path.join(BIN, 'producer'), [String(SECONDS), String(THREADS), OPEN_PATH], { stdio: ['pipe', 'pipe', 'inherit'] });
  const env = { ...process.env, PRODUCER_PID: String(producer.pid) };
  const consumer =
    kind === 'c'
      ? spawn(path.join(BIN, 'c_consumer'), [BPF_OBJECT], { env, stdio: ['ignore', 'pipe', 'inherit'] })
      : spawn(process.execPath, [path.join(PACKAGE_ROOT, 'dist', 'bench', 'receiver', 'node-consumer.js')], {
          env,
          stdio: ['ignore', 'pipe', 'inherit'],
        });
  try {
    const out = lines(consumer);
    const ready = await out.next();
    if (ready.value !== 'ready') throw new Error(`${kind} consumer did not start (said ${JSON.stringify(ready.value)})`);
    producer.stdin!.end('go\n');
    const produced = JSON.parse((await lines(producer).next()).value as string) as { calls: number };
    consumer.kill('SIGINT');
    const result = JSON.parse((await out.next()).value as string) as ConsumerResult;
    return { ...result, calls: produced.calls };
  } finally {
    producer.kill('SIGKILL');
    consumer.kill('SIGKILL');
  }
}

function row(r: ConsumerResult & { calls: number }): string {
  const rate = r.producerRecords / SECONDS;
  return [
    r.consumer.padEnd(5),
    `${(r.calls / SECONDS / 1e6).toFixed(3)} M calls/s`.padStart(18),
    `${(rate / 1e6).toFixed(3)} M events/s`.padStart(19),
    `delivered ${((r.producerRecords / Math.max(1, r.calls)) * 100).toFixed(2)}%`.padStart(17),
    `drops ${r.dropped}${r.queueFull ? ` (+${r.queueFull} queue_full)` : ''}`.padStart(12),
    `cpu ${((r.cpuSeconds / r.wallSeconds) * 100).toFixed(1)}%`.padStart(11),
    `${((r.cpuSeconds / Math.max(1, r.records)) * 1e9).toFixed(0)} ns cpu/record`.padStart(20),
  ].join('  ');
}

async function main(): Promise<void> {
  process.stdout.write(
    `receiver benchmark: ${ROUNDS} rounds x ${SECONDS} s per consumer, producer = ${THREADS} thread(s) of openat(${JSON.stringify(OPEN_PATH)}) → ENOENT\n`,
  );
  const results: Record<'c' | 'node', Array<ConsumerResult & { calls: number }>> = { c: [], node: [] };
  for (let i = 0; i < ROUNDS; i++) {
    for (const kind of ['c', 'node'] as const) {
      const r = await round(kind);
      results[kind].push(r);
      process.stdout.write(`${row(r)}\n`);
    }
  }
  const best = (k: 'c' | 'node') => Math.max(...results[k].map((r) => r.producerRecords / SECONDS));
  const delivered = (k: 'c' | 'node') => Math.min(...results[k].map((r) => r.producerRecords / Math.max(1, r.calls)));
  const cpu = (k: 'c' | 'node') => Math.min(...results[k].map((r) => r.cpuSeconds / Math.max(1, r.records)));
  process.stdout.write(`ratio node/c events/s (best round each; bounded by the producer): ${(best('node') / best('c')).toFixed(3)}\n`);
  process.stdout.write(`ratio node/c delivered fraction (worst round each): ${(delivered('node') / delivered('c')).toFixed(3)}\n`);
  process.stdout.write(`ratio node/c cpu per record (best round each): ${(cpu('node') / cpu('c')).toFixed(2)}\n`);
  const { recordsPerSecond } = decodeRate(3, 8192);
  process.stdout.write(
    `drain-only decode (EventBatch.parse + 5 header reads, batch 8192): ${(recordsPerSecond / 1e6).toFixed(2)} M records/s\n`,
  );
}

main().catch((err: Error) => {
  process.stderr.write(`${err.stack ?? err.message}\n`);
  process.exit(1);
});
