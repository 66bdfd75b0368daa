import { containerIdsFromCgroup } from '../../src/processors/container-enrichment/cgroup';

const ID = 'a'.repeat(56) + '0123abcd';
const ID2 = 'f'.repeat(64);

describe('containerIdsFromCgroup', () => {
  test.each([
    ['docker, cgroupfs (v1 hybrid)', `12:memory:/docker/${ID}\n11:pids:/docker/${ID}\n0::/\n`, [ID]],
    ['docker, systemd', `0::/system.slice/docker-${ID}.scope\n`, [ID]],
    ['containerd via ctr (any id)', `4:memory:/default/web-1\n0::/default/web-1\n`, ['web-1']],
    ['CRI containerd, systemd', `0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1234.slice/cri-containerd-${ID}.scope\n`, [ID]],
    ['kubelet cgroupfs', `3:cpu:/kubepods/besteffort/pod0c3e7d1a-1111-2222-3333-444455556666/${ID}\n`, [ID]],
    ['CRI-O', `0::/kubepods.slice/kubepods-burstable.slice/crio-${ID}.scope\n`, [ID]],
    ['podman cgroupfs', `0::/libpod_parent/libpod-${ID}\n`, [ID]],
    ['podman systemd', `0::/machine.slice/libpod-${ID}.scope/container\n`, [ID]],
    ['LXC 4+', `0::/lxc.payload.web/init.scope\n4:memory:/lxc.payload.web\n`, ['web']],
    ['LXC legacy', `4:memory:/lxc/db\n`, ['db']],
  ])('%s', (_name, text, expected) => {
    expect(containerIdsFromCgroup(text)).toEqual(expected);
  });

  test('the most specific id comes first and each only once', () => {
    const text = `4:memory:/default/${ID2}\n5:pids:/docker/${ID}\n0::/default/${ID2}\n`;
    expect(containerIdsFromCgroup(text)).toEqual([ID2, ID]);
  });

  test.each([
    ['root cgroups', '12:memory:/\n0::/\n'],
    ['a systemd service', '0::/system.slice/ssh.service\n'],
    ['podman conmon', `0::/libpod_parent/conmon\n`],
    ['podman conmon scope', `0::/machine.slice/libpod-conmon-${ID}.scope\n`],
    ['CRI-O conmon', `0::/kubepods.slice/crio-conmon-${ID}.scope\n`],
    ['LXC monitor', '0::/lxc.monitor.web\n'],
    ['garbage', 'not a cgroup file'],
  ])('no container for %s', (_name, text) => {
    expect(containerIdsFromCgroup(text)).toEqual([]);
  });
});
