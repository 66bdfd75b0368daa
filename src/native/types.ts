/**
 * The native addon's surface (native/addon). Loaded through src/native/index.ts;
 * shared by the eBPF receiver, the enrichment processor's pinned map and `doctor`.
 */

/** One Inspektor-Gadget-layout entry: u64 mntns → four char[256]. */
export interface ContainersMapEntry {
  mntns: number;
  containerId: string;
  namespace: string;
  pod: string;
  container: string;
}

export interface PinnedContainersMap {
  readonly path: string;
  entries(): ContainersMapEntry[];
  lookup(mntns: number): ContainersMapEntry | undefined;
  update(entry: ContainersMapEntry): void;
  delete(mntns: number): boolean;
  /** Closes our fd; the pin stays until unpin(). */
  close(): void;
}
