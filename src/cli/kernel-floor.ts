import * as os from 'node:os';
import { checkKernel } from '../doctor/checks';
import { type AgentConfig, componentType } from '../pipeline/config';
import { ebpfReceiverFactory } from '../receivers/ebpf';

/**
 * Why `run` must not start on this kernel, as one line, or undefined. The BPF programs need 5.13
 * (the ring buffer, the BTF task pointer, task local storage from tracepoints); below that libbpf
 * fails on a map or a program and says nothing about the kernel. So a pipeline with an eBPF
 * receiver is refused before anything is loaded, in the words of `doctor`'s kernel check.
 */
export function kernelFloorRefusal(config: AgentConfig, release: string = os.release()): string | undefined {
  if (!pipelineUsesEbpf(config)) return undefined;
  const kernel = checkKernel(release);
  if (kernel.status === 'ok') return undefined;
  return `${kernel.check}: ${kernel.detail}; ${kernel.fix}`;
}

/** Whether the pipeline takes records from the kernel: only then are the BPF addon and libbpf needed. */
export function pipelineUsesEbpf(config: AgentConfig): boolean {
  return config.service.pipelines.logs.receivers.some((id) => componentType(id) === ebpfReceiverFactory.type);
}
