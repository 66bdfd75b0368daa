/** Where a BootClock reads time. */
export interface ClockSource {
  /** CLOCK_BOOTTIME in ns: the clock the kernel stamps records with. */
  bootNowNs(): bigint;
  /** CLOCK_REALTIME − CLOCK_BOOTTIME in ns. */
  realtimeMinusBootNs(): bigint;
}

/**
 * Node has no CLOCK_BOOTTIME: without the addon (unit tests, the synthetic
 * receiver on a build machine) the monotonic clock and the millisecond wall
 * clock stand in. Records stamped from `bootNowNs` stay consistent with it.
 */
const approximateClockSource: ClockSource = {
  bootNowNs: () => process.hrtime.bigint(),
  realtimeMinusBootNs: () => BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint(),
};

/**
 * Converts kernel boot-time nanoseconds into Unix epoch nanoseconds. Record
 * times and observed times both go through the same offset, so a record
 * stamped before `nowEpochNs()` is never timed after it.
 */
export class BootClock {
  private offsetNs = 0n;

  constructor(private readonly source: ClockSource = approximateClockSource) {
    this.refresh();
  }

  /** Recomputed periodically: wall-clock steps (NTP) move the offset. */
  refresh(): void {
    this.offsetNs = this.source.realtimeMinusBootNs();
  }

  bootNowNs(): bigint {
    return this.source.bootNowNs();
  }

  /** Now, on the same scale as `toEpochNs`: what records are observed at. */
  nowEpochNs(): bigint {
    return this.source.bootNowNs() + this.offsetNs;
  }

  toEpochNs(bootNs: bigint): bigint {
    return bootNs + this.offsetNs;
  }

  /** What `toEpochNs` adds: Unix epoch ns at boot. */
  get bootToEpochNs(): bigint {
    return this.offsetNs;
  }
}
