import { containerOfCgroupPath } from '../../src/processors/container-enrichment/cgroup';

const ID = 'a'.repeat(56) + '0123abcd';
const UID = '0c3e7d1a-1111-2222-3333-444455556666';

describe('containerOfCgroupPath', () => {
  test.each([
    ['docker, cgroupfs', `/docker/${ID}`, { id: ID, runtime: 'docker', certain: true, podUid: '' }],
    ['docker, systemd', `/system.slice/docker-${ID}.scope`, { id: ID, runtime: 'docker', certain: true, podUid: '' }],
    ['containerd via ctr (any id): only with containerd confirming', '/default/web-1', { id: 'web-1', runtime: 'containerd', certain: false, podUid: '' }],
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
});
