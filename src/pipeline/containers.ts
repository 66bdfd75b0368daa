import type { ContainerInfo } from '../events';

/**
 * A component that wants to hear of each container as it is described
 * (receivers that select containers: they turn the description into a
 * verdict the kernel enforces).
 */
export interface ContainerListener {
  /** `info` runs in the cgroups `cgroupIds` (the container hierarchy's); false: its records are not wanted. */
  described(info: ContainerInfo, cgroupIds: readonly number[]): boolean;
  /** These cgroups are gone for good. */
  forgotten(cgroupIds: readonly number[]): void;
}

/**
 * One per service: the enrichment processor, which learns containers, tells
 * the listeners. Records cannot say which receiver they came from, so a
 * container is wanted when any listener wants it (each receiver still
 * filters its own kernel side by its own verdicts).
 */
export class ContainerDirectory {
  private readonly listeners = new Set<ContainerListener>();
  /** Set by whoever describes containers; a listener without one would never hear anything. */
  describer: string | undefined;

  listen(listener: ContainerListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get selecting(): boolean {
    return this.listeners.size > 0;
  }

  described(info: ContainerInfo, cgroupIds: readonly number[]): boolean {
    let wanted = this.listeners.size === 0;
    for (const l of this.listeners) if (l.described(info, cgroupIds)) wanted = true;
    return wanted;
  }

  forgotten(cgroupIds: readonly number[]): void {
    for (const l of this.listeners) l.forgotten(cgroupIds);
  }
}
