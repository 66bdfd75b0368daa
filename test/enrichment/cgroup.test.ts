import { containerOfCgroupPath } from '../../src/processors/container-enrichment/cgroup';

const ID = 'a'.repeat(56) + '0123abcd';
const UID = '0c3e7d1a-1111-2222-3333-444455556666';
/** The kubelet's systemd driver writes the pod uid with underscores in slice names. */
const UID_ = UID.replace(/-/g, '_');
const OUTER = 'b'.repeat(64);

describe('containerOfCgroupPath', () => {
  test.each([
    ['docker, cgroupfs', `/docker/${ID}`, { id: ID, runtime: 'docker', certain: true, podUid: '' }],
    ['docker, systemd', `/system.slice/docker-${ID}.scope`, { id: ID, runtime: 'docker', certain: true, podUid: '' }],
    [
      'containerd via ctr (any id): only with containerd confirming',
      '/default/web-1',
      { id: 'web-1', runtime: 'containerd', certain: false, podUid: '' },
    ],
    ['containerd, 64-hex id', `/moby/${ID}`, { id: ID, runtime: 'containerd', certain: true, podUid: '' }],
    [
      'CRI containerd, systemd',
      `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID.replace(/-/g, '_')}.slice/cri-containerd-${ID}.scope`,
      { id: ID, runtime: 'cri', certain: true, podUid: UID },
    ],
    ['kubelet cgroupfs', `/kubepods/besteffort/pod${UID}/${ID}`, { id: ID, runtime: 'cri', certain: true, podUid: UID }],
    ['CRI-O', `/kubepods.slice/kubepods-burstable.slice/crio-${ID}.scope`, { id: ID, runtime: 'cri', certain: true, podUid: '' }],
    ['podman cgroupfs', `/libpod_parent/libpod-${ID}`, { id: ID, runtime: 'podman', certain: true, podUid: '' }],
    ['podman systemd', `/machine.slice/libpod-${ID}.scope/container`, { id: ID, runtime: 'podman', certain: true, podUid: '' }],
    ['LXC 4+', '/lxc.payload.web/init.scope', { id: 'web', runtime: 'lxc', certain: true, podUid: '' }],
    ['LXC legacy', '/lxc/db', { id: 'db', runtime: 'lxc', certain: true, podUid: '' }],
  ])('%s', (_name, path, expected) => {
    expect(containerOfCgroupPath(path)).toEqual(expected);
  });

  test.each([
    ['the root', '/'],
    ['a systemd service', '/system.slice/ssh.service'],
    ['a pod (not yet a container)', `/kubepods/besteffort/pod${UID}`],
    ['docker parent', '/docker'],
    ['podman conmon', '/libpod_parent/conmon'],
    ['podman conmon scope', `/machine.slice/libpod-conmon-${ID}.scope`],
    ['CRI-O conmon', `/kubepods.slice/crio-conmon-${ID}.scope`],
    ['LXC monitor', '/lxc.monitor.web'],
    ['deeper than containerd names', '/a/b/c'],
  ])('no container for %s', (_name, path) => {
    expect(containerOfCgroupPath(path)).toBeUndefined();
  });

  // Paths as the kernel reports them (cgroup_mkdir, /proc/<pid>/cgroup) for each runtime, cgroup
  // driver and QoS class, on cgroup v2 (the same paths name v1 controller cgroups). The shapes the
  // kernel matrix makes for real (test/vm: cgroupfs ctr/Docker, SystemdCgroup CRI pods, Docker's
  // and nerdctl's systemd scopes) are checked there against live containers too.
  const cri = (podUid: string) => ({ id: ID, runtime: 'cri', certain: true, podUid });
  test.each([
    // containerd, cgroupfs driver
    ['containerd ctr, cgroupfs: /<namespace>/<id>', '/default/web-1', { id: 'web-1', runtime: 'containerd', certain: false, podUid: '' }],
    ['containerd, 64-hex id in k8s.io', `/k8s.io/${ID}`, { id: ID, runtime: 'containerd', certain: true, podUid: '' }],
    ['nerdctl, cgroupfs', `/default/${ID}`, { id: ID, runtime: 'containerd', certain: true, podUid: '' }],
    // containerd, systemd driver (nerdctl's default on systemd hosts: system.slice:nerdctl:<id>)
    ['nerdctl, systemd', `/system.slice/nerdctl-${ID}.scope`, { id: ID, runtime: 'containerd', certain: true, podUid: '' }],
    [
      'nerdctl rootless, systemd',
      `/user.slice/user-1000.slice/user@1000.service/nerdctl-${ID}.scope`,
      { id: ID, runtime: 'containerd', certain: true, podUid: '' },
    ],
    // kubelet + containerd (CRI), cgroupfs driver, each QoS class
    ['CRI containerd, cgroupfs, BestEffort', `/kubepods/besteffort/pod${UID}/${ID}`, cri(UID)],
    ['CRI containerd, cgroupfs, Burstable', `/kubepods/burstable/pod${UID}/${ID}`, cri(UID)],
    ['CRI containerd, cgroupfs, Guaranteed', `/kubepods/pod${UID}/${ID}`, cri(UID)],
    // kubelet + containerd (CRI), systemd driver (SystemdCgroup = true)
    [
      'CRI containerd, systemd, BestEffort',
      `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID_}.slice/cri-containerd-${ID}.scope`,
      cri(UID),
    ],
    [
      'CRI containerd, systemd, Burstable',
      `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice/cri-containerd-${ID}.scope`,
      cri(UID),
    ],
    ['CRI containerd, systemd, Guaranteed', `/kubepods.slice/kubepods-pod${UID_}.slice/cri-containerd-${ID}.scope`, cri(UID)],
    // CRI-O
    ['CRI-O, cgroupfs', `/kubepods/burstable/pod${UID}/crio-${ID}`, cri(UID)],
    ['CRI-O, systemd', `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice/crio-${ID}.scope`, cri(UID)],
    ['CRI-O, systemd, Guaranteed', `/kubepods.slice/kubepods-pod${UID_}.slice/crio-${ID}.scope`, cri(UID)],
    // Docker
    ['Docker, cgroupfs', `/docker/${ID}`, { id: ID, runtime: 'docker', certain: true, podUid: '' }],
    ['Docker, systemd', `/system.slice/docker-${ID}.scope`, { id: ID, runtime: 'docker', certain: true, podUid: '' }],
    [
      'Docker rootless, systemd',
      `/user.slice/user-1000.slice/user@1000.service/user.slice/docker-${ID}.scope`,
      { id: ID, runtime: 'docker', certain: true, podUid: '' },
    ],
    ['Docker in Docker, cgroupfs', `/docker/${OUTER}/docker/${ID}`, { id: ID, runtime: 'docker', certain: true, podUid: '' }],
    [
      'a service inside a Docker container running systemd',
      `/docker/${ID}/system.slice/nginx.service`,
      { id: ID, runtime: 'docker', certain: true, podUid: '' },
    ],
    // Podman
    ['Podman, cgroupfs', `/libpod_parent/libpod-${ID}`, { id: ID, runtime: 'podman', certain: true, podUid: '' }],
    [
      "Podman, systemd (crun's container sub-cgroup)",
      `/machine.slice/libpod-${ID}.scope/container`,
      { id: ID, runtime: 'podman', certain: true, podUid: '' },
    ],
    [
      'Podman pod, systemd',
      `/machine.slice/machine-libpod_pod_${OUTER}.slice/libpod-${ID}.scope/container`,
      { id: ID, runtime: 'podman', certain: true, podUid: '' },
    ],
    [
      'Podman rootless, systemd',
      `/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-${ID}.scope/container`,
      { id: ID, runtime: 'podman', certain: true, podUid: '' },
    ],
    [
      'Podman --cgroups=split (Quadlet), the payload',
      `/system.slice/web.service/libpod-payload-${ID}`,
      { id: ID, runtime: 'podman', certain: true, podUid: '' },
    ],
    [
      'Podman --cgroups=split, rootless',
      `/user.slice/user-1000.slice/user@1000.service/app.slice/web.service/libpod-payload-${ID}`,
      { id: ID, runtime: 'podman', certain: true, podUid: '' },
    ],
    [
      'Podman --systemd=always: a unit inside the container (nested .scope)',
      `/machine.slice/libpod-${ID}.scope/system.slice/nginx.service`,
      { id: ID, runtime: 'podman', certain: true, podUid: '' },
    ],
    [
      'Podman --systemd=always: its init.scope',
      `/machine.slice/libpod-${ID}.scope/init.scope`,
      { id: ID, runtime: 'podman', certain: true, podUid: '' },
    ],
    // Nested clusters: the innermost container names the cgroup.
    [
      'kind: a pod container in a node container (nested .scope and kubelet slices)',
      `/system.slice/docker-${OUTER}.scope/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod${UID_}.slice/cri-containerd-${ID}.scope`,
      cri(UID),
    ],
    ['k3d: a pod container in a node container, cgroupfs', `/docker/${OUTER}/kubepods/besteffort/pod${UID}/${ID}`, cri(UID)],
    // LXC / Incus
    ['Incus/LXC 4+, a unit inside', '/lxc.payload.web/system.slice/ssh.service', { id: 'web', runtime: 'lxc', certain: true, podUid: '' }],
  ])('real shape: %s', (_name, path, expected) => {
    expect(containerOfCgroupPath(path)).toEqual(expected);
  });

  test.each([
    ['the root', '/'],
    ["systemd's init.scope", '/init.scope'],
    ['a login session', '/user.slice/user-0.slice/session-1.scope'],
    ['containerd itself', '/system.slice/containerd.service'],
    ['kubelet cgroupfs QoS cgroup (BestEffort)', '/kubepods/besteffort'],
    ['kubelet cgroupfs QoS cgroup (Burstable)', '/kubepods/burstable'],
    ['kubelet cgroupfs Guaranteed pod (not yet a container)', `/kubepods/pod${UID}`],
    ['kubelet systemd QoS slice', '/kubepods.slice/kubepods-besteffort.slice'],
    ['kubelet systemd pod slice', `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID_}.slice`],
    ['kubelet systemd Guaranteed pod slice', `/kubepods.slice/kubepods-pod${UID_}.slice`],
    ['CRI-O conmon, cgroupfs', `/kubepods/burstable/pod${UID}/crio-conmon-${ID}`],
    ['CRI-O conmon, systemd', `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice/crio-conmon-${ID}.scope`],
    ["Podman --cgroups=split: conmon's runtime cgroup", '/system.slice/web.service/runtime'],
    ["Podman's pod slice", `/machine.slice/machine-libpod_pod_${OUTER}.slice`],
    ['a machine (not a container runtime we read)', '/machine.slice/machine-qemu\\x2d1\\x2dvm.scope'],
  ])('no container for the real shape: %s', (_name, path) => {
    expect(containerOfCgroupPath(path)).toBeUndefined();
  });
});
