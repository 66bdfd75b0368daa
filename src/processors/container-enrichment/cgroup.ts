/**
 * Container ids from the cgroup paths of a process (`/proc/<pid>/cgroup`), as
 * each runtime names its cgroups with the cgroupfs and systemd drivers:
 *   docker      /docker/<id>                     docker-<id>.scope
 *   containerd  /<namespace>/<id>                cri-containerd-<id>.scope
 *   CRI-O       /crio/<id>                       crio-<id>.scope
 *   podman      /libpod_parent/libpod-<id>       libpod-<id>.scope
 *   LXC         /lxc.payload.<name>/…            /lxc/<name>/…
 *   kubelet     /kubepods/<qos>/pod<uid>/<id>    kubepods-…-pod<uid>.slice/<prefix>-<id>.scope
 * Conmon's own cgroups (libpod-conmon-<id>, crio-conmon-<id>) are the monitor, not the container.
 */
const PREFIXED_SCOPE = /^(?:docker|cri-containerd|crio|libpod)-([0-9a-f]{64})(?:\.scope)?$/;
const CONMON = /(?:^|-)conmon(?:-|$)/;
const LXC_PAYLOAD = /^lxc\.payload\.(.+)$/;
const HEX_ID = /^[0-9a-f]{64}$/;
const SYSTEMD_UNIT = /\.(?:service|slice|scope|socket|mount)$/;

/**
 * The innermost segment naming a container (podman's systemd scope holds a
 * `container` sub-cgroup); null for a monitor's cgroup, undefined for none.
 */
function lastContainerSegment(segments: string[]): string | null | undefined {
  for (let i = segments.length - 1; i >= 0; i--) {
    const seg = segments[i];
    if (CONMON.test(seg)) return null;
    const scoped = PREFIXED_SCOPE.exec(seg);
    if (scoped) return scoped[1];
    if (HEX_ID.test(seg)) return seg;
  }
  return undefined;
}

/** Candidate ids, most specific first, without duplicates; [] for root cgroups and monitors. */
export function containerIdsFromCgroup(text: string): string[] {
  const ids: string[] = [];
  const add = (id: string) => {
    if (id && !ids.includes(id)) ids.push(id);
  };
  const fallbacks: string[] = [];
  for (const line of text.split('\n')) {
    // "hierarchy-id:controllers:path"; the path itself may contain ':'.
    const second = line.indexOf(':', line.indexOf(':') + 1);
    if (second < 0) continue;
    const segments = line.slice(second + 1).split('/').filter((s) => s !== '');
    if (segments.length === 0) continue;
    for (let i = 0; i < segments.length; i++) {
      const seg = segments[i];
      const lxc = LXC_PAYLOAD.exec(seg);
      if (lxc) add(lxc[1]);
      else if (seg === 'lxc' && i + 1 < segments.length) add(segments[i + 1]);
    }
    const id = lastContainerSegment(segments);
    if (id === null) continue;
    if (id !== undefined) add(id);
    else if (segments.length >= 2 && !SYSTEMD_UNIT.test(segments[segments.length - 1])) {
      // containerd without CRI puts a task in /<namespace>/<id>, and an id can be any name.
      fallbacks.push(segments[segments.length - 1]);
    }
  }
  for (const f of fallbacks) add(f);
  return ids;
}
