/**
 * Hot-path cost of the enrichment processor for records whose container is
 * known (announced by its cgroup record, described by a runtime): `consumeLogs`
 * over real kernel-layout batches, and the bare index lookup by cgroup id it is
 * built on. Target: >= 10 M lookups/s.
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
import type { RuntimeClient } from '../../src/processors/container-enrichment/runtime';

const CONTAINERS = Number(process.env.CONTAINERS ?? 1000);
const BATCH = Number(process.env.BATCH ?? 4096);
const SECONDS = Number(process.env.SECONDS ?? 3);
const HOST_MNTNS = 4026531840;
const CGROUP_BASE = 70_000;

const idOf = (k: number) => k.toString(16).padStart(64, '0');

function container(k: number): ContainerInfo {
  return {
    id: idOf(k),
    name: `bench-${k}`,
    runtime: 'docker',
    state: 'running',
    pid: 0,
    mntns: 0,
    cgroupPath: `/docker/${idOf(k)}`,
    image: { name: 'busybox', id: '', digest: '' },
    labels: {},
    sandbox: false,
    startedAt: '',
  };
}

/** Records spread over all containers in a scrambled order: no two neighbours share a container. */
function hitBatch(clock: BootClock): EventBatch {
  const specs: RecordSpec[] = [];
  for (let i = 0; i < BATCH; i++) {
    const k = (i * 7919) % CONTAINERS;
    specs.push({
      type: 'exec',
      tsBootNs: BigInt(i),
      pid: 10_000 + k,
      mntns: 4026540000 + k,
      cgroupId: CGROUP_BASE + k,
      comm: 'sh',
      filename: '/bin/sh',
      args: ['sh', '-c', 'true'],
    });
  }
  return EventBatch.parse(encodeRecords(specs), clock).batch;
}

/** The kernel's announcement of every container's cgroup, as the receiver hands it over. */
function mkdirBatch(clock: BootClock): EventBatch {
  const specs: RecordSpec[] = Array.from({ length: CONTAINERS }, (_, k) => ({
    type: 'cgroup_mkdir' as const,
    tsBootNs: 0n,
    pid: 1,
    mntns: HOST_MNTNS,
    cgroupId: CGROUP_BASE + k,
    comm: 'runc',
    path: `/docker/${idOf(k)}`,
  }));
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
  const runtime: RuntimeClient = {
    runtime: 'docker',
    endpoint: 'in-process',
    list: async () => [],
    get: async (id) => container(parseInt(id, 16)),
    watch: () => undefined,
    healthy: () => true,
    close: async () => undefined,
  };
  const config = resolveConfig(mergeDefaults(createDefaultConfig(), { pinned_map: { write: false, read_path: '/nonexistent' } }));
  const processor = new ContainerEnrichmentProcessor(
    config,
    {
      id: 'processors.container_enrichment',
      logger,
      metrics: new Registry(),
      stage: new StageCounters('bench'),
      host: { hostname: 'bench', nodeName: '' },
      clock,
    },
    sink,
    {
      runtimeClients: () => [runtime],
      proc: { mntns: () => undefined, cgroup: () => undefined, hostMntns: () => HOST_MNTNS },
      cgroups: {
        hierarchy: { controller: 'unified', subsysIndex: undefined, hierarchyId: 0, mountPath: '' },
        walk: () => new Map(),
        idOf: () => undefined,
      },
      maps: {
        open: () => {
          throw new Error('unused');
        },
        create: () => {
          throw new Error('unused');
        },
        unpin: () => undefined,
        exists: () => false,
      },
      now: Date.now,
    },
  );
  await processor.start();
  await processor.consumeLogs(mkdirBatch(clock));
  const index = processor.index;
  while (Array.from({ length: CONTAINERS }, (_, k) => index.get(idOf(k))).some((k) => !k?.described))
    await new Promise((r) => setTimeout(r, 5));
  const batch = hitBatch(clock);

  console.log(
    `enrichment lookups: ${CONTAINERS} containers indexed, batches of ${BATCH} records, ${SECONDS}s per case, node ${process.version}`,
  );
  let found = 0;
  await rate('index.lookup(batch.cgroupId(i)) (bare)', BATCH, () => {
    for (let i = 0; i < BATCH; i++) if (index.lookup(batch.cgroupId(i))) found++;
  });
  const perSec = await rate('consumeLogs (all hits, containers[] filled)', BATCH, () => processor.consumeLogs(batch));
  if (found === 0 || processor.counters.hits === 0) throw new Error('bench is not measuring hits');
  await processor.shutdown();
  console.log(`target >= 10 M lookups/s through consumeLogs: ${perSec >= 10e6 ? 'met' : 'NOT met'} (${(perSec / 10e6).toFixed(2)}x)`);
}

void main();
