import { existsSync, rmdirSync } from 'node:fs';
import * as path from 'node:path';
import { enrichmentCapabilityWarnings } from '../../host/capabilities';
import { cgroupIdOf, detectContainerHierarchy, walkCgroups } from '../../host/cgroups';
import { cachedKernelNamespaces, describeMissingMount, missingHostMounts } from '../../host/layout';
import { createPinnedContainersMap, openPinnedContainersMap, unpinPath } from '../../native';
import type { ProcessorFactory } from '../../pipeline/component';
import { type ContainerEnrichmentConfig, createDefaultConfig, resolveConfig, validateConfig } from './config';
import { ContainerEnrichmentProcessor } from './processor';
import { createProcFs } from './procfs';
import { createRuntimeClients } from './runtime';

export type { ContainerEnrichmentConfig, PendingConfig, PinnedMapConfig } from './config';
export { DEFAULT_READ_MAP_PATH, DEFAULT_WRITE_MAP_PATH } from './config';
export { ContainerEnrichmentProcessor } from './processor';
export type { EnrichmentDeps } from './processor';

/** Directories one walk of the cgroup tree visits at most (a node has a few thousand cgroups). */
const WALK_MAX_DIRS = 200_000;

export const containerEnrichmentProcessorFactory: ProcessorFactory<ContainerEnrichmentConfig> = {
  kind: 'processor',
  type: 'container_enrichment',
  createDefaultConfig,
  validate: validateConfig,
  create(config, settings, next) {
    const resolved = resolveConfig(config);
    const { logger } = settings;
    const { layout } = resolved;
    const hierarchy = detectContainerHierarchy(layout.cgroup);
    return new ContainerEnrichmentProcessor(resolved, settings, next, {
      runtimeClients: () =>
        createRuntimeClients(resolved.runtimes, {
          hostRoot: resolved.hostRoot,
          hostProc: resolved.hostProc,
          hostRun: layout.run,
          logger: logger.child('runtime'),
        }),
      proc: createProcFs(resolved.hostProc, logger, cachedKernelNamespaces),
      // In a container: each conventional host mount that is absent, and a missing CAP_SYS_PTRACE, by what they cost.
      startupWarnings: () => [...missingHostMounts(layout).map(describeMissingMount), ...enrichmentCapabilityWarnings()],
      cgroups: {
        hierarchy,
        walk: () => walkCgroups(hierarchy.mountPath, WALK_MAX_DIRS),
        idOf: (cgroupPath) => cgroupIdOf(hierarchy.mountPath, cgroupPath),
      },
      maps: { open: openPinnedContainersMap, create: createPinnedContainersMap, unpin: unpinAndTidy, exists: existsSync },
      now: Date.now,
    });
  },
};

/** Removes our pin, and its directory when nothing else is pinned there. */
function unpinAndTidy(pinPath: string): void {
  unpinPath(pinPath);
  try {
    rmdirSync(path.dirname(pinPath));
  } catch {
    // Not empty (another map is pinned beside ours) or already gone: leave it.
  }
}
