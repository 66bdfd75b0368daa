/**
 * The config of an agent that must see only the harness's daemons: every runtime not given is
 * disabled (a host's own sockets are never probed), containers only, decided in the kernel, the
 * container_enrichment processor, and the exporters given, all in the pipeline.
 */
import { stringify } from 'yaml';

type Section = Record<string, unknown>;
const RUNTIMES = ['containerd', 'cri', 'docker', 'podman', 'lxc'] as const;

export interface HarnessAgentConfig {
  events: string[];
  /** Runtimes to use, by name: each one's settings. */
  runtimes: Partial<Record<(typeof RUNTIMES)[number], Section>>;
  pinnedMap: Section;
  exporters: Record<string, Section>;
  service?: Section;
}

export function harnessAgentConfig(c: HarnessAgentConfig): string {
  return stringify({
    receivers: { ebpf: { events: c.events, filters: { containers_only: true } } },
    processors: {
      container_enrichment: {
        runtimes: Object.fromEntries(RUNTIMES.map((r) => [r, c.runtimes[r] ?? { enabled: false }])),
        pinned_map: c.pinnedMap,
      },
    },
    exporters: c.exporters,
    service: {
      ...c.service,
      pipelines: { logs: { receivers: ['ebpf'], processors: ['container_enrichment'], exporters: Object.keys(c.exporters) } },
    },
  });
}
