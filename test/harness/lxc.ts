import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { destroyWorkDir, makeWorkDir, run, waitFor } from './procs';

/** LXC system containers from the busybox template, in a private lxcpath, without networking. */
export class LxcHarness {
  readonly lxcpath: string;
  readonly dir: string;
  private readonly names = new Set<string>();

  constructor() {
    this.dir = makeWorkDir('lxc');
    this.lxcpath = path.join(this.dir, 'containers');
    mkdirSync(this.lxcpath);
    writeFileSync(path.join(this.dir, 'default.conf'), 'lxc.net.0.type = empty\n');
  }

  private lxc(tool: string, name: string, args: string[] = []): string {
    return run(tool, ['-P', this.lxcpath, '-n', name, ...args], { timeoutMs: 60_000 });
  }

  /** Creates (busybox template, offline) and starts a container; returns its init pid. */
  async start(name: string): Promise<number> {
    this.names.add(name);
    this.lxc('lxc-create', name, ['-t', 'busybox', '-f', path.join(this.dir, 'default.conf')]);
    this.lxc('lxc-start', name, ['-d']);
    return waitFor(`LXC container ${name} to run`, () => this.pidOf(name) || false, 15_000, 100);
  }

  pidOf(name: string): number {
    return Number(this.lxc('lxc-info', name, ['-p', '-H']).trim()) || 0;
  }

  freeze(name: string, frozen: boolean): void {
    this.lxc(frozen ? 'lxc-freeze' : 'lxc-unfreeze', name);
  }

  stopContainer(name: string): void {
    this.lxc('lxc-stop', name, ['-k']);
  }

  destroy(name: string): void {
    try {
      this.stopContainer(name);
    } catch {
      /* not running */
    }
    this.lxc('lxc-destroy', name);
    this.names.delete(name);
  }

  stop(): void {
    for (const name of [...this.names]) {
      try {
        this.destroy(name);
      } catch {
        /* killed by pid below */
      }
    }
    destroyWorkDir(this.dir);
  }
}
