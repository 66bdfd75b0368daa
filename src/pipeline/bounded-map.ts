export interface BoundedMapOptions<K, V> {
  /** Keys kept at most (at least 1). */
  max: number;
  /** How long an entry is trusted after it was set; none: until it is pushed out. */
  ttlMs?: number;
  /** The clock of `ttlMs`. */
  now?: () => number;
  /** Told each entry the bound pushed out (not expired or deleted ones), e.g. to drop what refers to it. */
  onEvict?: (key: K, value: V) => void;
}

interface Entry<V> {
  value: V;
  at: number;
}

/**
 * A map that forgets, for every memory that must not grow with what the host does: at most
 * `max` keys, the oldest set going first when a new one needs room, counted in `evictions` so
 * its owner can report it in its metric. With `ttlMs`, an entry reads as absent once expired,
 * and expired entries make room before the bound has to (uncounted: nothing was pushed out).
 */
export class BoundedMap<K, V> {
  /** Insertion-ordered and re-inserted on set, so the first key is the oldest entry. */
  private readonly entries = new Map<K, Entry<V>>();
  private readonly max: number;
  private readonly ttlMs: number;
  private readonly now: () => number;
  private readonly onEvict: ((key: K, value: V) => void) | undefined;
  evictions = 0;

  constructor(options: BoundedMapOptions<K, V>) {
    if (!(options.max >= 1)) throw new RangeError(`BoundedMap: max must be at least 1, not ${options.max}`);
    this.max = options.max;
    this.ttlMs = options.ttlMs ?? Infinity;
    this.now = options.now ?? Date.now;
    this.onEvict = options.onEvict;
  }

  get size(): number {
    return this.entries.size;
  }

  get(key: K): V | undefined {
    return this.live(key)?.value;
  }

  has(key: K): boolean {
    return this.live(key) !== undefined;
  }

  /** Sets `key` as the newest entry, making room first if the map is full. */
  set(key: K, value: V): void {
    this.entries.delete(key);
    let at = 0;
    if (this.ttlMs !== Infinity) {
      at = this.now();
      for (const [oldest, entry] of this.entries) {
        if (at - entry.at < this.ttlMs) break;
        this.entries.delete(oldest);
      }
    }
    if (this.entries.size >= this.max) {
      const [oldest, entry] = this.entries.entries().next().value!;
      this.entries.delete(oldest);
      this.evictions++;
      this.onEvict?.(oldest, entry.value);
    }
    this.entries.set(key, { value, at });
  }

  delete(key: K): boolean {
    return this.entries.delete(key);
  }

  /** Drops `key` only while it still holds `value`: a late failure must not drop a newer entry. */
  deleteIf(key: K, value: V): void {
    if (this.entries.get(key)?.value === value) this.entries.delete(key);
  }

  clear(): void {
    this.entries.clear();
  }

  private live(key: K): Entry<V> | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined || this.ttlMs === Infinity || this.now() - entry.at < this.ttlMs) return entry;
    this.entries.delete(key);
    return undefined;
  }
}
