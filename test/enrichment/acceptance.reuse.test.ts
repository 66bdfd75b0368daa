/**
 * Acceptance of issue 11 on real BPF and a real containerd: mount namespace
 * inodes are reused within milliseconds. While a long-lived container keeps
 * exec'ing a marked `/bin/echo`, each step runs a few one-shot containers at
 * once (`ctr run --rm … sh -c 'exec /bin/echo <marker>'`, gone within
 * milliseconds),
 * then starts a short container exec'ing its own marked `/bin/echo` in a loop
 * while removing the previous short one. No record may
 * cross containers, and after every step our pinned map (as bpftool dumps it)
 * must hold exactly the live containers, each once, at its own mount
 * namespace, and no exited one.
 */
import { parseDuration } from '../../src/pipeline/units';
import { containerEnrichmentProcessorFactory } from '../../src/processors/container-enrichment';
import { TEST_IMAGE, buildTestImage, ContainerdHarness } from '../harness';
import { dumpPinned, removePins } from './bpftool';
import { mntnsOfPid, type RealPipeline, type SeenRecord, startRealPipeline } from './pipeline';
import { requires } from '../harness/requires';

const DIR = `/sys/fs/bpf/ebpf-otel-test-reuse-${process.pid}`;
const MAP = `${DIR}/containers`;
/** Start/stop steps of short containers. */
const STEPS = 20;
/** One-shot containers run at once in each step. */
const ONE_SHOTS_PER_STEP = 4;
/** How long the processor gets to bring the pinned map in line with the live containers (the slowest catch-up is printed). */
const MAP_CATCH_UP_MS = 1000;
/** How long a short container runs (exec'ing) before the next one starts. */
const SHORT_LIFE_MS = 150;
/** The processor's `pending.deadline` (its default, which the pipeline keeps): records may still come this long after the last step. */
const PENDING_DEADLINE_MS = parseDuration(containerEnrichmentProcessorFactory.createDefaultConfig().pending.deadline);

const P = process.pid;
const LONG = `reuse-long-${P}`;
const shortId = (k: number) => `reuse-short-${P}-${k}`;
const oneShotId = (k: number) => `reuse-oneshot-${P}-${k}`;
/** A loop of marked execs: `/bin/echo <id>-<n>` (an exec: the path bypasses busybox's builtin), every `pause` s. */
const loop = (id: string, pause: string) => ['/bin/sh', '-c', `n=0; while :; do n=$((n+1)); /bin/echo ${id}-$n; sleep ${pause}; done`];
/** The container a record's argv names (a marked echo, or the `sh -c` carrying the loop), if any. */
const MARK = new RegExp(`(?:^|[ ;])(reuse-(?:long-${P}|short-${P}-\\d+|oneshot-${P}-\\d+))-`);

requires('bpf', 'bpftool', 'containerd', 'ctr', 'runc').describe(
  "issue 11 reuse: containers started and stopped while a long-lived one keeps exec'ing",
  () => {
    let h: ContainerdHarness;
    let p: RealPipeline | undefined;
    const ctr = (args: string[]) => h.ctrAsync(args);

    async function taskPid(id: string): Promise<number> {
      const line = (await ctr(['tasks', 'ls'])).split('\n').find((l) => l.split(/\s+/)[0] === id);
      const pid = line ? Number(line.split(/\s+/)[1]) : 0;
      if (!pid) throw new Error(`no running task ${id}`);
      return pid;
    }
    async function start(id: string, pause: string): Promise<number> {
      await ctr(['run', '-d', '--null-io', '--net-host', TEST_IMAGE, id, ...loop(id, pause)]);
      return mntnsOfPid(await taskPid(id));
    }
    /** SIGKILL, task and container deleted; `strict`: a container that could not be deleted fails the test (it would still be live). */
    async function remove(id: string, strict = true): Promise<void> {
      await ctr(['tasks', 'kill', '--signal', 'SIGKILL', id]).catch(() => undefined);
      // `--force` waits for the kill to be reaped.
      await ctr(['tasks', 'delete', '--force', id]).catch(() => undefined);
      const deleted = ctr(['containers', 'delete', id]);
      await (strict ? deleted : deleted.catch(() => undefined));
    }

    beforeAll(async () => {
      buildTestImage();
      h = await ContainerdHarness.start();
      h.importImage('default');
    }, 180_000);

    afterAll(async () => {
      await p?.stop();
      removePins(DIR);
      await h?.stop();
    }, 120_000);

    test(`${STEPS} steps of ${ONE_SHOTS_PER_STEP} one-shot and a short container over one long-lived: no record crosses containers; the pinned map holds exactly the live ones after each step`, async () => {
      p = await startRealPipeline(
        { containerd: { socket: h.socket, namespaces: ['default'] } },
        { pinned_map: { write_path: MAP, read_path: `${DIR}/no-source` } },
      );
      const pipeline = p;
      /** Live containers of this test: id → mount namespace inode. */
      const live = new Map<string, number>();
      const ours = new Set<string>();
      const mapProblems: string[] = [];
      let slowestCatchUpMs = 0;
      const usedMntns = new Map<number, string>();
      let reused = 0;

      /** What differs between the pinned map and `live`, restricted to this test's containers and namespaces. */
      const mapMismatch = (): string[] => {
        const dump = dumpPinned(MAP);
        const liveNs = new Set(live.values());
        const relevant = [...dump.values()].filter((e) => ours.has(e.containerId) || liveNs.has(e.mntns));
        const out: string[] = [];
        for (const [id, ns] of live) {
          const at = dump.get(ns);
          if (!at) out.push(`${id}: no entry at its mntns ${ns}`);
          else if (at.containerId !== id) out.push(`${id}: its mntns ${ns} maps to ${at.containerId || '""'}`);
          const times = relevant.filter((e) => e.containerId === id).length;
          if (times !== 1) out.push(`${id}: present ${times} times`);
        }
        for (const e of relevant) if (!live.has(e.containerId)) out.push(`stale entry mntns ${e.mntns} → ${e.containerId || '""'}`);
        return out;
      };
      const checkMap = async (after: string): Promise<void> => {
        const t = Date.now();
        let last: string[] = [];
        for (;;) {
          last = mapMismatch();
          if (last.length === 0) {
            slowestCatchUpMs = Math.max(slowestCatchUpMs, Date.now() - t);
            return;
          }
          if (Date.now() - t > MAP_CATCH_UP_MS) break;
          await new Promise((r) => setTimeout(r, 20));
        }
        mapProblems.push(`after ${after} (live: ${[...live].map(([id, ns]) => `${id}@${ns}`).join(', ')}): ${last.join('; ')}`);
      };
      const track = (id: string, ns: number) => {
        if (usedMntns.has(ns)) reused++;
        usedMntns.set(ns, id);
        live.set(id, ns);
        ours.add(id);
      };

      try {
        track(LONG, await start(LONG, '0.05'));
        await checkMap(`starting ${LONG}`);
        for (let k = 0; k < STEPS; k++) {
          // Containers that live a few milliseconds, several at once: their namespaces are free again when `ctr` returns.
          const onces = Array.from({ length: ONE_SHOTS_PER_STEP }, (_, j) => oneShotId(k * ONE_SHOTS_PER_STEP + j));
          for (const once of onces) ours.add(once);
          await Promise.all(
            onces.map((once) =>
              ctr(['run', '--rm', '--null-io', '--net-host', TEST_IMAGE, once, '/bin/sh', '-c', `exec /bin/echo ${once}-1`]),
            ),
          );
          await checkMap(`${onces.join(', ')} ran and exited`);
          // The previous short container goes while the next one starts: the new one may take the
          // namespace inode of the one dying, before its exit has been reported.
          const id = shortId(k);
          ours.add(id);
          const prev = k > 0 ? shortId(k - 1) : undefined;
          const [ns] = await Promise.all([start(id, '0.02'), prev ? remove(prev) : undefined]);
          if (prev) live.delete(prev);
          track(id, ns);
          await checkMap(prev ? `starting ${id} while removing ${prev}` : `starting ${id}`);
          await new Promise((r) => setTimeout(r, SHORT_LIFE_MS));
        }
        const lastShort = shortId(STEPS - 1);
        await remove(lastShort);
        live.delete(lastShort);
        await checkMap(`removing ${lastShort}`);

        // Records held for their container come out by the pending deadline.
        await new Promise((r) => setTimeout(r, PENDING_DEADLINE_MS + 1000));
        const byContainer = new Map<string, { right: number; wrong: SeenRecord[]; unenriched: SeenRecord[] }>();
        for (const r of pipeline.records) {
          if (r.type !== 'exec') continue;
          const m = MARK.exec(r.args.join(' '));
          if (!m) continue;
          const row = byContainer.get(m[1]) ?? { right: 0, wrong: [], unenriched: [] };
          if (r.container === null) row.unenriched.push(r);
          else if (r.container.id !== m[1]) row.wrong.push(r);
          else row.right++;
          byContainer.set(m[1], row);
        }
        const show = (r: SeenRecord) =>
          `[${r.args.join(' ').slice(0, 60)}] pid ${r.pid} mntns ${r.mntns} cgroup ${r.cgroupId ?? '?'} → ${r.container ? r.container.id : 'no container'}`;
        const total = (f: (row: { right: number; wrong: SeenRecord[]; unenriched: SeenRecord[] }) => number) =>
          [...byContainer.values()].reduce((n, row) => n + f(row), 0);
        console.log(
          [
            `reuse: ${STEPS * ONE_SHOTS_PER_STEP} one-shot and ${STEPS} short containers over ${LONG}; ${reused} short ones got a mount namespace inode an earlier container of this test had`,
            `marked exec records: right ${total((r) => r.right)}, wrong ${total((r) => r.wrong.length)}, unenriched ${total((r) => r.unenriched.length)}`,
            ...(['long', 'short', 'oneshot'] as const).map((kind) => {
              const ids = [...ours].filter((id) => id.startsWith(`reuse-${kind}-`));
              const rows = ids.map((id) => byContainer.get(id));
              const sum = (f: (row: NonNullable<(typeof rows)[number]>) => number) => rows.reduce((n, row) => n + (row ? f(row) : 0), 0);
              return `  ${kind.padEnd(8)} ${String(ids.length).padStart(3)} containers: right ${sum((r) => r.right)}, wrong ${sum((r) => r.wrong.length)}, unenriched ${sum((r) => r.unenriched.length)}, without any record ${rows.filter((r) => !r).length}`;
            }),
            ...[...ours]
              .filter((id) => !byContainer.get(id)?.right || byContainer.get(id)!.wrong.length || byContainer.get(id)!.unenriched.length)
              .slice(0, 30)
              .map((id) => {
                const row = byContainer.get(id);
                if (!row) return `  ${id}: no record`;
                const e = row.wrong[0] ?? row.unenriched[0];
                return `  ${id}: right ${row.right}, wrong ${row.wrong.length}, unenriched ${row.unenriched.length}${e ? `, e.g. ${show(e)}` : ''}`;
              }),
            `pinned map: ${mapProblems.length} of ${2 * STEPS + 2} checks not in line with the live containers within ${MAP_CATCH_UP_MS} ms; the slowest in line after ${slowestCatchUpMs} ms`,
            ...mapProblems.slice(0, 20).map((l) => `  ${l}`),
          ].join('\n'),
        );

        // Every container of the test exec'd marked commands; every such record carries that container.
        expect([...ours].filter((id) => !byContainer.has(id)).map((id) => `${id}: no record`)).toEqual([]);
        const crossing = [...byContainer].flatMap(([id, row]) => row.wrong.map((r) => `${id}'s record on ${show(r)}`));
        expect(crossing).toEqual([]);
        const unenriched = [...byContainer].flatMap(([id, row]) => row.unenriched.map((r) => `${id}'s record ${show(r)}`));
        expect(unenriched).toEqual([]);
        expect(mapProblems).toEqual([]);
      } finally {
        const left = (await ctr(['containers', 'ls', '-q']).catch(() => '')).split('\n').filter((id) => ours.has(id));
        for (const id of left) await remove(id, false);
      }
    }, 180_000);
  },
);
