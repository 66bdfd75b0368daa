import type { Registry } from 'prom-client';
import { mergeDefaults } from '../../src/pipeline/config';
import {
  type ContainerEnrichmentConfig,
  createDefaultConfig,
  resolveConfig,
} from '../../src/processors/container-enrichment/config';
import { ContainerEnrichmentProcessor, type EnrichmentDeps } from '../../src/processors/container-enrichment/processor';
import type { ProcFs } from '../../src/processors/container-enrichment/procfs';
import { CollectingConsumer, FakeMaps, FakeProc, FakeRuntimeClient, type LogLine, testSettings } from './fakes';

type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? DeepPartial<T[K]> : T[K] };

export interface Rig {
  processor: ContainerEnrichmentProcessor;
  out: CollectingConsumer;
  proc: FakeProc;
  maps: FakeMaps;
  clients: FakeRuntimeClient[];
  logs: LogLine[];
  settings: ReturnType<typeof testSettings>;
}

const started: ContainerEnrichmentProcessor[] = [];

/** A processor over fakes; every rig built is shut down by `shutdownRigs()` (call it in afterEach). */
export function rig(
  config: DeepPartial<ContainerEnrichmentConfig> = {},
  opts: { clients?: FakeRuntimeClient[]; now?: () => number; maps?: FakeMaps; realMaps?: EnrichmentDeps['maps']; realProc?: ProcFs; id?: string; registry?: Registry } = {},
): Rig {
  const logs: LogLine[] = [];
  const settings = { ...testSettings(logs), ...(opts.id ? { id: opts.id } : {}), ...(opts.registry ? { metrics: opts.registry } : {}) };
  const proc = new FakeProc();
  const maps = opts.maps ?? new FakeMaps();
  const clients = opts.clients ?? [new FakeRuntimeClient()];
  const out = new CollectingConsumer();
  const resolved = resolveConfig(mergeDefaults(createDefaultConfig(), config));
  const processor = new ContainerEnrichmentProcessor(resolved, settings, out, {
    runtimeClients: () => clients,
    proc: opts.realProc ?? proc,
    maps: opts.realMaps ?? maps.api,
    now: opts.now ?? Date.now,
  });
  started.push(processor);
  return { processor, out, proc, maps, clients, logs, settings };
}

export async function shutdownRigs(): Promise<void> {
  await Promise.all(started.splice(0).map((p) => p.shutdown()));
}
