import { existsSync, readdirSync, realpathSync } from 'node:fs';
import * as path from 'node:path';
import { hostPathCandidates } from '../../../host/layout';
import type { ContainerInfo } from '../../../events';
import type { Logger } from '../../../pipeline/logger';
import { parseDuration } from '../../../pipeline/units';
import type { ClientContext } from './common';
import { ContainerdClient } from './containerd';
import { CriClient, DEFAULT_CRI_POLL_MS } from './cri';
import { DockerClient } from './docker';
import { DEFAULT_LXC_POLL_MS, LxcClient } from './lxc';
import type { RuntimeClient } from './types';

/** `processors.container_enrichment.runtimes` as written in the config (config/schema.json). */
export interface RuntimesConfig {
  containerd?: { enabled?: boolean; socket?: string; namespaces?: string[] };
  cri?: { enabled?: boolean; socket?: string; poll_interval?: string };
  docker?: { enabled?: boolean; socket?: string };
  podman?: { enabled?: boolean; socket?: string };
  lxc?: { enabled?: boolean; lxcpath?: string[]; poll_interval?: string };
}

/** Well-known endpoints, looked up under the host's /run (`/run/…`, `/var/run/…`) or root (hostPathCandidates). */
export const WELL_KNOWN = {
  containerd: ['/run/containerd/containerd.sock', '/run/k3s/containerd/containerd.sock'],
  /** CRI endpoints without a native client of ours; containerd's CRI is used only when enabled. */
  cri: ['/run/crio/crio.sock', '/var/run/cri-dockerd.sock'],
  criContainerd: ['/run/containerd/containerd.sock', '/run/k3s/containerd/containerd.sock'],
  docker: ['/var/run/docker.sock'],
  podman: ['/run/podman/podman.sock'],
  /** Rootless podman: one socket per user. */
  podmanUserDir: '/run/user',
  lxc: ['/var/lib/lxc', '/run/lxcri'],
} as const;

export interface CreateOptions {
  /** Prefix of the host's filesystem when the agent runs in a container ('' on the host). */
  hostRoot: string;
  /** The host's /proc ('' = `<hostRoot>/proc`). */
  hostProc: string;
  /** The host's /run ('' = `<hostRoot>/run`): where /run/… and /var/run/… sockets are. */
  hostRun?: string;
  logger: Logger;
}

/**
 * The clients that apply to this host. Per runtime: `enabled: false` skips it; a configured
 * socket/lxcpath is used as written (not under host_root) even when absent, so it is warned
 * about; otherwise the well-known paths under host_root are probed and an absent runtime is
 * skipped silently. `enabled: true` without a path uses the first well-known one, present or not.
 */
export function createRuntimeClients(runtimes: RuntimesConfig | Record<string, unknown>, options: CreateOptions): RuntimeClient[] {
  const cfg = runtimes as RuntimesConfig;
  const hostRoot = options.hostRoot.replace(/\/+$/, '');
  const ctx = (name: string): ClientContext => ({ hostProc: options.hostProc || `${hostRoot}/proc`, logger: options.logger.child(name) });
  const layout = { root: hostRoot || '/', run: options.hostRun || `${hostRoot}/run` };
  const onHost = (p: string) => hostPathCandidates(layout, p)[0];
  /** Each well-known path that exists, once (/run/x and /var/run/x are one file on the host). */
  const present = (paths: readonly string[]) => {
    const seen = new Set<string>();
    const out: string[] = [];
    for (const p of paths.flatMap((w) => hostPathCandidates(layout, w))) {
      if (!existsSync(p)) continue;
      let real: string;
      try {
        real = realpathSync(p);
      } catch {
        real = p;
      }
      if (seen.has(real)) continue;
      seen.add(real);
      out.push(p);
    }
    return out;
  };
  /** Endpoints for one runtime: configured, discovered, or (enabled: true) the first default. */
  const endpoints = (section: { enabled?: boolean; socket?: string } | undefined, wellKnown: readonly string[]): string[] => {
    if (section?.enabled === false) return [];
    if (section?.socket) return [section.socket];
    const found = present(wellKnown);
    if (found.length > 0) return found;
    return section?.enabled === true ? [onHost(wellKnown[0])] : [];
  };

  const clients: RuntimeClient[] = [];
  const docker = endpoints(cfg.docker, WELL_KNOWN.docker);
  for (const socket of docker) clients.push(new DockerClient('docker', { socket }, ctx('docker')));

  const userDir = onHost(WELL_KNOWN.podmanUserDir);
  const podmanUserSockets = listUserPodmanSockets(userDir).map((p) => path.join(WELL_KNOWN.podmanUserDir, p.slice(userDir.length)));
  for (const socket of endpoints(cfg.podman, [...WELL_KNOWN.podman, ...podmanUserSockets]))
    clients.push(new DockerClient('podman', { socket }, ctx('podman')));

  for (const socket of endpoints(cfg.containerd, WELL_KNOWN.containerd)) {
    // Docker's containers live in containerd's `moby` namespace; the Docker client names them properly.
    const skipNamespaces = docker.length > 0 ? ['moby'] : [];
    clients.push(new ContainerdClient({ socket, namespaces: cfg.containerd?.namespaces, skipNamespaces }, ctx('containerd')));
  }

  const criPoll = cfg.cri?.poll_interval ? parseDuration(cfg.cri.poll_interval) : DEFAULT_CRI_POLL_MS;
  const criWellKnown = cfg.cri?.enabled === true ? [...WELL_KNOWN.cri, ...WELL_KNOWN.criContainerd] : WELL_KNOWN.cri;
  for (const socket of endpoints(cfg.cri, criWellKnown)) clients.push(new CriClient({ socket, pollIntervalMs: criPoll }, ctx('cri')));

  if (cfg.lxc?.enabled !== false) {
    const lxcpaths = cfg.lxc?.lxcpath?.length ? cfg.lxc.lxcpath : present(WELL_KNOWN.lxc);
    const lxcPoll = cfg.lxc?.poll_interval ? parseDuration(cfg.lxc.poll_interval) : DEFAULT_LXC_POLL_MS;
    if (lxcpaths.length > 0 || cfg.lxc?.enabled === true) {
      clients.push(
        new LxcClient(
          { lxcpaths: lxcpaths.length ? lxcpaths : [onHost(WELL_KNOWN.lxc[0])], pollIntervalMs: lxcPoll, hostRoot },
          ctx('lxc'),
        ),
      );
    }
  }
  return clients;
}

/** Sockets of rootless podman services under `runUser` (`/run/user`) that exist. */
export function listUserPodmanSockets(runUser: string): string[] {
  let uids: string[];
  try {
    uids = readdirSync(runUser).filter((n) => /^\d+$/.test(n));
  } catch {
    return [];
  }
  return uids.map((uid) => path.join(runUser, uid, 'podman/podman.sock')).filter((p) => existsSync(p));
}

export interface ListError {
  runtime: string;
  endpoint: string;
  message: string;
}

/** Lists every client concurrently; an unreachable runtime is an entry in `errors`, not a failure. */
export async function listAllContainers(clients: RuntimeClient[]): Promise<{ containers: ContainerInfo[]; errors: ListError[] }> {
  const results = await Promise.allSettled(clients.map((c) => c.list()));
  const containers: ContainerInfo[] = [];
  const errors: ListError[] = [];
  results.forEach((r, i) => {
    if (r.status === 'fulfilled') containers.push(...r.value);
    else
      errors.push({
        runtime: clients[i].runtime,
        endpoint: clients[i].endpoint,
        message: r.reason instanceof Error ? r.reason.message : String(r.reason),
      });
  });
  return { containers, errors };
}
