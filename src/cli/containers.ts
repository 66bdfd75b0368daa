import { createDefaultConfig, resolveConfig, type ContainerEnrichmentConfig } from '../processors/container-enrichment/config';
import type { ContainerInfo } from '../events';
import { createRuntimeClients, listAllContainers } from '../processors/container-enrichment/runtime';
import { ConfigError, loadConfigFile, mergeDefaults } from '../pipeline/config';
import { createLogger } from '../pipeline/logger';
import { formatTable } from './table';

const EXIT_OK = 0;
const EXIT_SOME_UNREACHABLE = 1;
const EXIT_CONFIG = 2;

/** `crictl ps`-style table across runtimes. */
export function formatContainersTable(containers: ContainerInfo[]): string {
  const header = ['RUNTIME', 'CONTAINER ID', 'NAME', 'STATE', 'PID', 'MNTNS', 'IMAGE', 'NAMESPACE', 'POD', 'WORKLOAD', 'K8S CONTAINER'];
  const rows = containers.map((c) => [
    c.runtime,
    c.id.slice(0, 12),
    c.name,
    c.state,
    c.pid ? String(c.pid) : '-',
    c.mntns ? String(c.mntns) : '-',
    c.image.name || '-',
    c.k8s?.namespace || '-',
    c.k8s?.podName || '-',
    // The pod's controller as derived from its labels and name: `Deployment/web`, `CronJob/backup`.
    c.k8s?.workload ? `${c.k8s.workload.kind}/${c.k8s.workload.name}` : '-',
    c.k8s?.containerName || '-',
  ]);
  return `${formatTable([header, ...rows], { gap: '   ' })}\n`;
}

/**
 * `containers`: every container of every reachable runtime, as a `crictl ps`-style table or
 * (`--json`) an array of ContainerInfo. Runtimes come from the config's container_enrichment
 * section. Exit 1 when a runtime could not be listed. Arguments are parsed by the CLI's main.
 */
export async function containersCommand(options: { json: boolean; configPath: string }): Promise<number> {
  const { json, configPath } = options;
  let section: unknown;
  try {
    const processors = loadConfigFile(configPath).processors;
    const key = Object.keys(processors).find((k) => k === 'container_enrichment' || k.startsWith('container_enrichment/'));
    section = key ? processors[key] : undefined;
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      return EXIT_CONFIG;
    }
    throw err;
  }
  const config = resolveConfig(mergeDefaults<ContainerEnrichmentConfig>(createDefaultConfig(), section));
  // Unreachable runtimes are reported once below, not as retry warnings.
  const logger = createLogger('error', 'containers');
  const clients = createRuntimeClients(config.runtimes, {
    hostRoot: config.hostRoot,
    hostProc: config.hostProc,
    hostRun: config.layout.run,
    logger,
  });
  try {
    const { containers, errors } = await listAllContainers(clients);
    containers.sort((a, b) => a.runtime.localeCompare(b.runtime) || a.name.localeCompare(b.name));
    process.stdout.write(json ? `${JSON.stringify(containers, null, 2)}\n` : formatContainersTable(containers));
    for (const e of errors) process.stderr.write(`warning: ${e.message}\n`);
    if (clients.length === 0)
      process.stderr.write(
        'no container runtime found (none of the well-known sockets or lxcpaths exist; set processors.container_enrichment.runtimes)\n',
      );
    return errors.length > 0 ? EXIT_SOME_UNREACHABLE : EXIT_OK;
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
}
