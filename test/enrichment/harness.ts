import type { Registry } from 'prom-client';
import type { ContainerDirectory } from '../../src/pipeline/containers';
import { mergeDefaults } from '../../src/pipeline/config';
import { type ContainerEnrichmentConfig, createDefaultConfig, resolveConfig } from '../../src/processors/container-enrichment/config';
import { ContainerEnrichmentProcessor, type EnrichmentDeps } from '../../src/processors/container-enrichment/processor';
import type { ProcFs } from '../../src/processors/container-enrichment/procfs';
import type { ContainerHierarchy } from '../../src/host/cgroups';
import type { ContainerInfo } from '../../src/events';
import { CollectingConsumer, container, FakeCgroupTree, FakeMaps, FakeProc, FakeRuntimeClient, type LogLine, testSettings } from './fakes';

type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? DeepPartial<T[K]> : T[K] };

export interface Rig {
  processor: ContainerEnrichmentProcessor;
  out: CollectingConsumer;
  proc: FakeProc;
  cgroups: FakeCgroupTree;
  maps: FakeMaps;
  clients: FakeRuntimeClient[];
  logs: LogLine[];
  settings: ReturnType<typeof testSettings>;
}

const started: ContainerEnrichmentProcessor[] = [];

/** A processor over fakes; every rig built is shut down by `shutdownRigs()` (call it in afterEach). */
export function rig(
  config: DeepPartial<ContainerEnrichmentConfig> = {},
  opts: {
    clients?: FakeRuntimeClient[];
    now?: () => number;
    maps?: FakeMaps;
    realMaps?: EnrichmentDeps['maps'];
    realProc?: ProcFs;
    /** The container hierarchy (default: unified, mounted at /sys/fs/cgroup). */
    hierarchy?: ContainerHierarchy;
    cgroups?: FakeCgroupTree;
    id?: string;
    registry?: Registry;
    /** The service's directory of described containers (receivers selecting containers listen). */
    containers?: ContainerDirectory;
  } = {},
): Rig {
  const logs: LogLine[] = [];
  const settings = {
    ...testSettings(logs),
    ...(opts.id ? { id: opts.id } : {}),
    ...(opts.registry ? { metrics: opts.registry } : {}),
    ...(opts.containers ? { containers: opts.containers } : {}),
  };
  const proc = new FakeProc();
  const cgroups = opts.cgroups ?? new FakeCgroupTree(opts.hierarchy);
  const maps = opts.maps ?? new FakeMaps();
  const clients = opts.clients ?? [new FakeRuntimeClient()];
  const out = new CollectingConsumer();
  const resolved = resolveConfig(mergeDefaults(createDefaultConfig(), config));
  const processor = new ContainerEnrichmentProcessor(resolved, settings, out, {
    runtimeClients: () => clients,
    proc: opts.realProc ?? proc,
    cgroups,
    maps: opts.realMaps ?? maps.api,
    now: opts.now ?? Date.now,
  });
  started.push(processor);
  return { processor, out, proc, cgroups, maps, clients, logs, settings };
}

export async function shutdownRigs(): Promise<void> {
  // A test on jest's fake clock leaves it here: shutdown waits for nothing a fake timer would hold.
  jest.useRealTimers();
  await Promise.all(started.splice(0).map((p) => p.shutdown()));
}

let nextCgroup = 100_000;
/**
 * A container running with its init process in `mntns` (pid = mntns, in a
 * cgroup of its own, `/test/ctr/<id>`, whose path names no container), as a
 * runtime reports it: tie it to its cgroup the processor must by its pid.
 */
export function running(r: Rig, id: string, mntns: number, extra: Partial<ContainerInfo> = {}): ContainerInfo {
  const cgroupPath = `/test/ctr/${id.slice(0, 40)}`;
  r.cgroups.mkdir(nextCgroup++, cgroupPath);
  r.proc.process(mntns, cgroupPath, mntns);
  return container(id, mntns, { pid: mntns, ...extra });
}
