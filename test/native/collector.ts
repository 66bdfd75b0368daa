import { Registry } from 'prom-client';
import { BootClock, type EventBatch } from '../../src/events';
import { nativeClockSource } from '../../src/native';
import type { ComponentSettings, LogsConsumer } from '../../src/pipeline/component';
import { createLogger } from '../../src/pipeline/logger';
import { StageCounters } from '../../src/pipeline/telemetry';

/** One decoded record, as the tests compare it. */
export interface Rec {
  type: string;
  tsBootNs: bigint;
  timeUnixNs: bigint;
  pid: number;
  tgid: number;
  ppid: number;
  uid: number;
  mntns: number;
  cgroupId: number;
  comm: string;
  filename?: string;
  args?: string[];
  path?: string;
  ret?: number;
  /** open: the flags as passed (openat's, or open_how.flags for openat2). */
  flags?: number;
  exitCode?: number;
  family?: number;
  port?: number;
  address?: string;
  sockType?: number;
  throttleStarted?: boolean;
  throttleDropped?: number;
}

export function decodeRecord(batch: EventBatch, i: number): Rec {
  const rec: Rec = {
    type: batch.type(i),
    tsBootNs: batch.tsBootNs(i),
    timeUnixNs: batch.timeUnixNs(i),
    pid: batch.pid(i),
    tgid: batch.tgid(i),
    ppid: batch.ppid(i),
    uid: batch.uid(i),
    mntns: batch.mntns(i),
    cgroupId: batch.cgroupId(i),
    comm: batch.comm(i),
  };
  switch (rec.type) {
    case 'exec':
      return { ...rec, filename: batch.execFilename(i), args: batch.execArgs(i) };
    case 'exit':
      return { ...rec, exitCode: batch.exitCode(i) };
    case 'open':
      return { ...rec, path: batch.openPath(i), ret: batch.openRet(i), flags: batch.openFlags(i) };
    case 'connect':
      return {
        ...rec,
        family: batch.connectFamily(i),
        port: batch.connectPort(i),
        address: batch.connectAddress(i),
        ret: batch.connectRet(i),
        sockType: batch.connectSockType(i),
      };
    case 'throttle':
      return { ...rec, throttleStarted: batch.throttleStarted(i), throttleDropped: batch.throttleDropped(i) };
    default:
      return rec;
  }
}

/**
 * The downstream of the receiver under test. The host is busy, so only
 * records of tracked processes are kept (or all of them, for filter tests,
 * bounded by `limit`).
 */
export class Collector implements LogsConsumer {
  readonly records: Rec[] = [];
  batches = 0;
  private readonly tracked = new Set<number>();
  private waiters: Array<{ match: (r: Rec) => boolean; resolve: (r: Rec) => void }> = [];

  constructor(
    private readonly keepAll = false,
    private readonly limit = 100_000,
  ) {}

  track(pid: number | undefined): number {
    if (pid === undefined) throw new Error('child process has no pid (spawn failed)');
    this.tracked.add(pid);
    return pid;
  }

  async consumeLogs(batch: EventBatch): Promise<void> {
    this.batches++;
    for (let i = 0; i < batch.length; i++) {
      if (!this.keepAll && !this.tracked.has(batch.tgid(i))) continue;
      if (this.records.length >= this.limit) return;
      const rec = decodeRecord(batch, i);
      this.records.push(rec);
      this.waiters = this.waiters.filter((w) => {
        if (!w.match(rec)) return true;
        w.resolve(rec);
        return false;
      });
    }
  }

  /** The first record (already seen or still to come) that matches; rejects after `ms` naming `what`. */
  waitFor(what: string, match: (r: Rec) => boolean, ms = 10_000): Promise<Rec> {
    const seen = this.records.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.match !== match);
        reject(
          new Error(
            `no ${what} within ${ms} ms; records of tracked pids: ${JSON.stringify(this.records.slice(-20), (_k, v) => (typeof v === 'bigint' ? String(v) : v))}`,
          ),
        );
      }, ms);
      this.waiters.push({
        match,
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
      });
    });
  }
}

export function testSettings(id: string): ComponentSettings & { stage: StageCounters; metrics: Registry } {
  return {
    id,
    logger: createLogger('warn', id),
    metrics: new Registry(),
    stage: new StageCounters(id),
    host: { hostname: 'test', nodeName: '' },
    clock: new BootClock(nativeClockSource),
  };
}
