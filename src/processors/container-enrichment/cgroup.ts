import type { RuntimeName } from '../../events';

/**
 * The container a cgroup belongs to, read from its path, as each runtime
 * names its cgroups with the cgroupfs and systemd drivers:
 *   docker      /docker/<id>                     docker-<id>.scope
 *   containerd  /<namespace>/<id>                cri-containerd-<id>.scope, nerdctl-<id>.scope
 *   CRI-O       /crio/<id>                       crio-<id>.scope
 *   podman      /libpod_parent/libpod-<id>       libpod-<id>.scope(/container), …/libpod-payload-<id> (--cgroups=split)
 *   LXC         /lxc.payload.<name>/…            /lxc/<name>/…
 *   kubelet     /kubepods/<qos>/pod<uid>/<id>    kubepods-…-pod<uid>.slice/<prefix>-<id>.scope
 * Conmon's own cgroups (libpod-conmon-<id>, crio-conmon-<id>) are the monitor, not the container.
 */
export interface CgroupContainer {
  id: string;
  /** The runtime the path's pattern belongs to. */
  runtime: RuntimeName;
  /**
   * The pattern names a container beyond doubt (a runtime prefix, a 64-hex id,
   * an LXC payload). containerd's /<namespace>/<id> fits any two-level path,
   * so it counts only once containerd confirms the id.
   */
  certain: boolean;
  /** From a kubelet pod<uid> segment; '' when none. */
  podUid: string;
}

const PREFIXED = /^(docker|cri-containerd|crio|libpod|libpod-payload|nerdctl)-([0-9a-f]{64})(?:\.scope)?$/;
const PREFIX_RUNTIME: Record<string, RuntimeName> = {
  docker: 'docker',
  'cri-containerd': 'cri',
  crio: 'cri',
  libpod: 'podman',
  'libpod-payload': 'podman',
  nerdctl: 'containerd',
};
const CONMON = /(?:^|-)conmon(?:-|$)/;
const LXC_PAYLOAD = /^lxc\.payload\.(.+)$/;
const HEX_ID = /^[0-9a-f]{64}$/;
const POD_UID = /pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})(?:\.slice)?$/;
const SYSTEMD_UNIT = /\.(?:service|slice|scope|socket|mount)$/;

/** undefined: no container's cgroup (the root, a service, a runtime's monitor). */
export function containerOfCgroupPath(cgroupPath: string): CgroupContainer | undefined {
  const segments = cgroupPath.split('/').filter((s) => s !== '');
  // A system container's own services live below its payload cgroup.
  for (let i = 0; i < segments.length; i++) {
    const lxc = LXC_PAYLOAD.exec(segments[i]);
    if (lxc) return { id: lxc[1], runtime: 'lxc', certain: true, podUid: '' };
    if (segments[i] === 'lxc' && i + 1 < segments.length) return { id: segments[i + 1], runtime: 'lxc', certain: true, podUid: '' };
  }
  const podUid = podUidOf(segments);
  for (let i = segments.length - 1; i >= 0; i--) {
    const seg = segments[i];
    if (CONMON.test(seg)) return undefined;
    const prefixed = PREFIXED.exec(seg);
    if (prefixed) return { id: prefixed[2], runtime: PREFIX_RUNTIME[prefixed[1]], certain: true, podUid };
    if (HEX_ID.test(seg)) return { id: seg, runtime: hexParentRuntime(segments[i - 1], podUid), certain: true, podUid };
  }
  const last = segments[segments.length - 1];
  // The kubelet's cgroupfs tree (/kubepods/<qos>, /kubepods/pod<uid>) is no containerd namespace.
  if (segments.length === 2 && !SYSTEMD_UNIT.test(last) && segments[0] !== 'kubepods')
    return { id: last, runtime: 'containerd', certain: false, podUid: '' };
  return undefined;
}

function hexParentRuntime(parent: string | undefined, podUid: string): RuntimeName {
  if (parent === 'docker') return 'docker';
  if (podUid || parent === 'crio') return 'cri';
  return 'containerd';
}

function podUidOf(segments: string[]): string {
  for (const seg of segments) {
    const m = POD_UID.exec(seg);
    if (m) return m[1].replace(/_/g, '-');
  }
  return '';
}
