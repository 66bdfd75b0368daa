import { ebpfReceiverFactory, toSessionOptions } from '../../src/receivers/ebpf';
import type { EbpfReceiverConfig } from '../../src/receivers/ebpf';
import { mergeDefaults, parseConfigText } from '../../src/pipeline/config';

const HOST = {
  hierarchy: { controller: 'memory', subsysIndex: 4, hierarchyId: 7, mountPath: '/sys/fs/cgroup/memory' },
  hostMntns: 4026531841,
};

function config(user: unknown): EbpfReceiverConfig {
  return mergeDefaults(ebpfReceiverFactory.createDefaultConfig(), user);
}

describe('ebpf receiver config', () => {
  it('has valid defaults: all four event types, a 16 MiB ring, the host facts the kernel side needs', () => {
    const c = ebpfReceiverFactory.createDefaultConfig();
    expect(ebpfReceiverFactory.validate!(c)).toEqual([]);
    expect(toSessionOptions(c, 4242, HOST)).toMatchObject({
      events: ['exec', 'exit', 'open', 'connect'],
      ringBufferSize: 16 * 1024 * 1024,
      denyPids: [4242],
      containersOnly: false,
      hostMntns: 4026531841,
      cgroupSubsysIndex: 4,
      cgroupHierarchyId: 7,
      drainIntervalMs: 20,
      maxBatchRecords: 8192,
    });
  });

  it('accepts every key of its schema definition', () => {
    const yaml = `
receivers:
  ebpf:
    events: [exec, open]
    ring_buffer_size: 64MiB
    exec_args_max_bytes: 256
    filters:
      containers_only: true
      deny_comms: [sshd]
      deny_pids: [1]
      exclude_self: false
      open_failed_only: true
      containers: { include: [{ k8s_namespace: shop, k8s_pod_labels: { app: web }, k8s_workload: Deployment/web, container_name: app, image: "*/web:*" }], exclude: [{ k8s_pod_labels: { tier: debug } }] }
      open: { include_path_prefixes: [/etc/], exclude_path_prefixes: [/proc/, /sys/] }
      rate_limit: { per_container: 300, burst: 600 }
    batch: { max_records: 1024, drain_interval: 10ms, max_in_flight: 8 }
    disable_programs: [enter_openat2]
exporters: { file: {} }
service: { pipelines: { logs: { receivers: [ebpf], exporters: [file] } } }
`;
    const parsed = parseConfigText(yaml, 'test.yaml', {});
    const c = config(parsed.receivers.ebpf);
    expect(ebpfReceiverFactory.validate!(c)).toEqual([]);
    expect(toSessionOptions(c, 1, HOST)).toMatchObject({
      denyPids: [1],
      denyComms: ['sshd'],
      openFailedOnly: true,
      drainIntervalMs: 10,
      selectContainers: true,
      includePathPrefixes: ['/etc/'],
      excludePathPrefixes: ['/proc/', '/sys/'],
      rateLimitPerSecond: 300,
      rateLimitBurst: 600,
    });
  });

  it('refuses an empty selector and path prefixes the kernel cannot hold, naming each', () => {
    const problems = ebpfReceiverFactory.validate!(
      config({ filters: { containers: { include: [{}], exclude: [] }, open: { exclude_path_prefixes: ['', 'x'.repeat(256)] } } }),
    );
    expect(problems).toEqual([
      'filters.containers.include[0]: an empty selector matches every container; name at least one of k8s_namespace, k8s_pod_labels, k8s_workload, container_name, image',
      expect.stringMatching(/^filters\.open\.exclude_path_prefixes\[0\]: "" must be 1-255 bytes/),
      expect.stringMatching(/^filters\.open\.exclude_path_prefixes\[1\]: "x+" must be 1-255 bytes/),
    ]);
  });

  it('names the key, the bad value and what is allowed', () => {
    const problems = ebpfReceiverFactory.validate!(
      config({
        ring_buffer_size: '3MiB',
        batch: { drain_interval: '2s' },
        disable_programs: ['enter_open'],
        filters: { deny_comms: ['a-very-long-process-name'] },
        events: [],
      }),
    );
    expect(problems).toEqual([
      'ring_buffer_size: "3MiB" must be a power of two between 4KiB and 1GiB (e.g. 32MiB)',
      'batch.drain_interval: "2s" must be between 1ms and 1s (e.g. 20ms)',
      'events: must list at least one of exec, exit, open, connect',
      expect.stringMatching(
        /^disable_programs\[0\]: "enter_open" is not a BPF program \(one of handle_exec, .*exit_connect, handle_cgroup_mkdir, handle_cgroup_rmdir\)$/,
      ),
      expect.stringMatching(/^filters\.deny_comms\[0\]: "a-very-long-process-name" must be 1-15 bytes/),
    ]);
  });
});
