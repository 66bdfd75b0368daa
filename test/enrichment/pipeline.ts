/**
 * The real thing, composed directly: eBPF receiver (real BPF programs) →
 * container-enrichment processor (real runtime clients on the harness daemons,
 * real pinned map) → a collector keeping the records of non-host processes.
 */
import { statSync } from 'node:fs';
import { Registry } from 'prom-client';
import { BootClock, type ContainerInfo, type EventBatch, type EventTypeName } from '../../src/events';
import type { ComponentSettings, LogsConsumer } from '../../src/pipeline/component';
import { mergeDefaults } from '../../src/pipeline/config';
import { createLogger } from '../../src/pipeline/logger';
import { StageCounters } from '../../src/pipeline/telemetry';
import { type ContainerEnrichmentConfig, containerEnrichmentProcessorFactory } from '../../src/processors/container-enrichment';
import type { ContainerEnrichmentProcessor } from '../../src/processors/container-enrichment/processor';
import type { RuntimesConfig } from '../../src/processors/container-enrichment/runtime';
import { type EbpfReceiver, ebpfReceiverFactory, type EbpfReceiverConfig } from '../../src/receivers/ebpf';
import type { SessionStats } from '../../src/native';
import { ContainerDirectory } from '../../src/pipeline/containers';

export interface SeenRecord {
  type: EventTypeName;
  pid: number;
  comm: string;
  mntns: number;
  filename: string;
  args: string[];
  path: string;
  container: ContainerInfo | null;
  /** When the processor passed it on (ms, Date.now()). */
  at: number;
  /** The record's cgroup id as the kernel wrote it (diagnostics). */
  cgroupId?: number;
}

/** Receiver settings a test may change (merged over the receiver's defaults). */
export interface ReceiverOverrides {
  filters?: Partial<EbpfReceiverConfig['filters']>;
}

const NO_RUNTIMES: RuntimesConfig = {
  containerd: { enabled: false },
  cri: { enabled: false },
  docker: { enabled: false },
  podman: { enabled: false },
  lxc: { enabled: false },
};

/** Keeps decoded records of every process outside this host's mount namespace. */
class ContainerRecords implements LogsConsumer {
  readonly records: SeenRecord[] = [];
  private readonly host = statSync('/proc/self/ns/mnt').ino;

  async consumeLogs(batch: EventBatch): Promise<void> {
    const at = Date.now();
    for (let i = 0; i < batch.length; i++) {
      const mntns = batch.mntns(i);
      if (mntns === this.host) continue;
      const type = batch.type(i);
      this.records.push({
        type,
        pid: batch.pid(i),
        comm: batch.comm(i),
        mntns,
        filename: type === 'exec' ? batch.execFilename(i) : '',
        args: type === 'exec' ? batch.execArgs(i) : [],
        path: type === 'open' ? batch.openPath(i) : '',
        container: batch.containers?.[i] ?? null,
        at,
        cgroupId: batch.cgroupId(i),
      });
    }
  }
}

function settings(
  id: string,
  registry: Registry,
  clock: BootClock,
  containers: ContainerDirectory,
): ComponentSettings & { stage: StageCounters } {
  return {
    id,
    logger: createLogger('warn', id),
    metrics: registry,
    stage: new StageCounters(id),
    host: { hostname: 'test', nodeName: '' },
    clock,
    containers,
  };
}

export interface RealPipeline {
  processor: ContainerEnrichmentProcessor;
  /** The kernel counters and the receiver's stage counts (drops by reason). */
  receiverStats(): SessionStats;
  receiverStage: StageCounters;
  processorStage: StageCounters;
  records: SeenRecord[];
  registry: Registry;
  /** Resolves once `find` returns something; fails the test (not hangs) after `limitMs`. */
  waitFor<T>(what: string, find: () => T | undefined | false, limitMs?: number): Promise<T>;
  stop(): Promise<void>;
}

/**
 * Starts processor then receiver (the processor creates the pinned map the
 * receiver may filter on). Only the runtimes given are enabled: the machine's
 * own sockets and other tests' daemons stay out of it.
 */
export async function startRealPipeline(
  runtimes: RuntimesConfig,
  processorConfig: Partial<Omit<ContainerEnrichmentConfig, 'pinned_map'>> & {
    pinned_map: Partial<ContainerEnrichmentConfig['pinned_map']>;
  },
  events: EbpfReceiverConfig['events'] = ['exec', 'open', 'exit'],
  receiverOverrides: ReceiverOverrides = {},
): Promise<RealPipeline> {
  const registry = new Registry();
  const clock = new BootClock();
  const collector = new ContainerRecords();
  const config = mergeDefaults(containerEnrichmentProcessorFactory.createDefaultConfig(), {
    // Other tests' containers on this machine are unknown to us and wait too: room for them.
    pending: { max_total: 65_536 },
    ...processorConfig,
    runtimes: { ...NO_RUNTIMES, ...runtimes },
  });
  const problems = containerEnrichmentProcessorFactory.validate!(config);
  if (problems.length) throw new Error(problems.join('; '));
  const containers = new ContainerDirectory();
  const processorSettings = settings('processors.container_enrichment', registry, clock, containers);
  const processor = containerEnrichmentProcessorFactory.create(config, processorSettings, collector) as ContainerEnrichmentProcessor;
  const receiverConfig = mergeDefaults(ebpfReceiverFactory.createDefaultConfig(), { ...receiverOverrides, events });
  const receiverSettings = settings('receivers.ebpf', registry, clock, containers);
  const receiver = ebpfReceiverFactory.create(receiverConfig, receiverSettings, processor) as EbpfReceiver;
  await processor.start();
  try {
    await receiver.start();
  } catch (err) {
    await processor.shutdown();
    throw err;
  }
  return {
    processor,
    receiverStats: () => receiver.stats()!,
    receiverStage: receiverSettings.stage,
    processorStage: processorSettings.stage,
    records: collector.records,
    registry,
    async waitFor<T>(what: string, find: () => T | undefined | false, limitMs = 20_000): Promise<T> {
      const start = Date.now();
      for (;;) {
        const found = find();
        if (found !== undefined && found !== false) return found;
        if (Date.now() - start > limitMs) throw new Error(`gave up waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    async stop() {
      await receiver.shutdown();
      await processor.shutdown();
    },
  };
}

export function mntnsOfPid(pid: number): number {
  return statSync(`/proc/${pid}/ns/mnt`).ino;
}

/** What the acceptance tests run inside a container of each runtime. */
export const COMMAND = 'cat /etc/hostname; touch /tmp/x';

/**
 * A running container is indexed once its runtime client reports it; the
 * race of a container's very first events is the containerd race test's.
 */
export async function indexed(p: RealPipeline, ns: number): Promise<void> {
  await p.waitFor(`a described container of mntns ${ns} in the index`, () =>
    [...p.processor.index.live()].some((k) => k.mntns === ns && k.described),
  );
}

/** Waits for the exec of the `sh -c` and the opens of /etc/hostname and /tmp/x in namespace `ns`. */
export async function commandEvents(p: RealPipeline, ns: number): Promise<SeenRecord[]> {
  const of = (pred: (r: SeenRecord) => boolean) => () => p.records.find((r) => r.mntns === ns && pred(r));
  try {
    return await Promise.all([
      p.waitFor(
        'exec of sh -c',
        of((r) => r.type === 'exec' && r.filename.endsWith('sh') && r.args.includes(COMMAND)),
      ),
      p.waitFor(
        'open of /etc/hostname',
        of((r) => r.type === 'open' && r.path === '/etc/hostname'),
      ),
      p.waitFor(
        'open of /tmp/x',
        of((r) => r.type === 'open' && r.path === '/tmp/x'),
      ),
    ]);
  } catch (err) {
    const seen = p.records.filter((r) => r.mntns === ns).map((r) => `${r.type} ${r.comm} ${r.filename}${r.path} ${r.args.join(' ')}`);
    throw new Error(`${(err as Error).message}; records of mntns ${ns}:\n${seen.join('\n')}`);
  }
}
