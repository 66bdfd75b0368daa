/**
 * Hot-path cost of the enrichment processor for records whose container is
 * known: `consumeLogs` over real kernel-layout batches, and the bare index
 * lookup it is built on. Target: >= 10 M lookups/s.
 *
 *   node_modules/.bin/tsc -p tsconfig.json && node_modules/.bin/node dist/bench/enrichment/lookup.js
 */
import { Registry } from 'prom-client';
import { BootClock, type ContainerInfo, EventBatch, encodeRecords, type RecordSpec } from '../../src/events';
import type { LogsConsumer } from '../../src/pipeline/component';
import { createLogger } from '../../src/pipeline/logger';
import { StageCounters } from '../../src/pipeline/telemetry';
import { mergeDefaults } from '../../src/pipeline/config';
import { createDefaultConfig, resolveConfig } from '../../src/processors/container-enrichment/config';
import { ContainerEnrichmentProcessor } from '../../src/processors/container-enrichment/processor';

const CONTAINERS = Number(process.env.CONTAINERS ?? 1000);
const BATCH = Number(process.env.BATCH ?? 4096);
const SECONDS = Number(process.env.SECONDS ?? 3);
const HOST_MNTNS = 4026531840;

function container(k: number): ContainerInfo {
  return {
    id: k.toString(16).padStart(64, '0'),
    name: `bench-${k}`,
    runtime: 'containerd',
    state: 'running',
    pid: 10_000 + k,
    mntns: 4026540000 + k,
    cgroupPath: `/default/bench-${k}`,
    image: { name: 'busybox', id: '', digest: '' },
    labels: {},
    sandbox: false,
    startedAt: '',
  };
}

/** Records spread over all containers in a scrambled order: no two neighbours share a namespace. */
function hitBatch(clock: BootClock): EventBatch {
  const specs: RecordSpec[] = [];
  for (let i = 0; i < BATCH; i++) {
    const k = (i * 7919) % CONTAINERS;
    specs.push({ type: 'exec', tsBootNs: BigInt(i), pid: 10_000 + k, mntns: 4026540000 + k, comm: 'sh', filename: '/bin/sh', args: ['sh', '-c', 'true'] });
  }
  return EventBatch.parse(encodeRecords(specs), clock).batch;
}

async function rate(label: string, perRound: number, round: () => void | Promise<void>): Promise<number> {
  const deadline = process.hrtime.bigint() + BigInt(SECONDS * 1e9);
  for (let w = 0; w < 200; w++) await round();
  let rounds = 0;
  const start = process.hrtime.bigint();
  let now = start;
  while (now < deadline) {
    for (let k = 0; k < 50; k++) await round();
    rounds += 50;
    now = process.hrtime.bigint();
  }
  const perSec = (rounds * perRound) / (Number(now - start) / 1e9);
  console.log(`${label.padEnd(46)} ${(perSec / 1e6).toFixed(2).padStart(7)} M/s`);
  return perSec;
}

async function main(): Promise<void> {
  const clock = new BootClock();
  const logger = createLogger('warn');
  const sink: LogsConsumer = { consumeLogs: async () => undefined };
  const config = resolveConfig(mergeDefaults(createDefaultConfig(), { pinned_map: { write: false, read_path: '/nonexistent' } }));
  const processor = new ContainerEnrichmentProcessor(
    config,
    { id: 'processors.container_enrichment', logger, metrics: new Registry(), stage: new StageCounters('bench'), host: { hostname: 'bench', nodeName: '' }, clock },
    sink,
    {
      runtimeClients: () => [],
      proc: { mntns: () => undefined, cgroup: () => undefined, hostMntns: () => HOST_MNTNS, startBootMs: () => undefined },
      maps: { open: () => { throw new Error('unused'); }, create: () => { throw new Error('unused'); }, unpin: () => undefined, exists: () => false },
      now: Date.now,
    },
  );
  await processor.start();
  for (let k = 0; k < CONTAINERS; k++) processor.learn(container(k));
  const batch = hitBatch(clock);

  console.log(`enrichment lookups: ${CONTAINERS} containers indexed, batches of ${BATCH} records, ${SECONDS}s per case, node ${process.version}`);
  const index = processor.index;
  let found = 0;
  await rate('index.lookup(batch.mntns(i)) (bare)', BATCH, () => {
    for (let i = 0; i < BATCH; i++) if (index.lookup(batch.mntns(i)) !== undefined) found++;
  });
  const perSec = await rate('consumeLogs (all hits, containers[] filled)', BATCH, () => processor.consumeLogs(batch));
  if (found === 0 || processor.counters.hits === 0) throw new Error('bench is not measuring hits');
  await processor.shutdown();
  console.log(`target >= 10 M lookups/s through consumeLogs: ${perSec >= 10e6 ? 'met' : 'NOT met'} (${(perSec / 10e6).toFixed(2)}x)`);
}

void main();
