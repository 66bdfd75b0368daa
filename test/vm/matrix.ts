/**
 * `npm run test:kernels`: the kernel matrix. Fetches Debian's kernel packages once
 * (test/vm/kernels.sh), boots each under qemu with this machine's root shared read-only
 * (test/vm/boot.sh, test/vm/guest/init), runs a suite inside (test/vm/guest/suite.sh), judges what
 * the guest wrote and prints a matrix: check × kernel → ok / FAIL / skip, with seconds.
 * Exit status 1 when any cell failed. test/vm/README.md says what each scenario covers.
 *
 * Compiled with the rest (scripts/setup.sh); run as `node dist/test/vm/matrix.js`.
 * Environment: ECO_VM_CACHE (kernels, guest caches; default /var/cache/ebpf-container-otel/vm),
 * ECO_VM_ONLY (comma-separated columns, e.g. `6.1,5.10`), ECO_VM_BUDGET_S (900: the matrix's
 * time budget, a FAIL row when exceeded), ECO_VM_KEEP=1 (keep the guests' job directories).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { checkKernel } from '../../src/doctor/checks';
import { PACKAGE_ROOT as REPO } from '../../src/pipeline/paths';

type Slot = '6.1' | '6.12' | '5.10';
interface Scenario {
  column: string;
  slot: Slot;
  init: 'busybox' | 'systemd';
  suite: 'full' | 'systemd' | 'old';
  timeoutS: number;
}

const SCENARIOS: Scenario[] = [
  { column: '6.1', slot: '6.1', init: 'busybox', suite: 'full', timeoutS: 480 },
  { column: '6.12', slot: '6.12', init: 'busybox', suite: 'full', timeoutS: 480 },
  { column: '6.12+systemd', slot: '6.12', init: 'systemd', suite: 'systemd', timeoutS: 300 },
  { column: '5.10', slot: '5.10', init: 'busybox', suite: 'old', timeoutS: 240 },
];

const CACHE = process.env.ECO_VM_CACHE || '/var/cache/ebpf-container-otel/vm';
const BUDGET_S = Number(process.env.ECO_VM_BUDGET_S || 900);
const ONLY = (process.env.ECO_VM_ONLY || '').split(',').filter(Boolean);

type Status = 'ok' | 'FAIL' | 'skip';
interface Cell {
  status: Status;
  seconds?: number;
  detail?: string;
  /** Shown instead of the status when ok (a kernel release, "cached"). */
  text?: string;
}
/** row → column → cell, rows in the order first reported. */
const matrix = new Map<string, Map<string, Cell>>();
function put(row: string, column: string, cell: Cell): void {
  if (!matrix.has(row)) matrix.set(row, new Map());
  matrix.get(row)!.set(column, cell);
}

const say = (line: string) => process.stdout.write(`kernels: ${line}\n`);

function readJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}
function readText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}
const tail = (text: string | undefined, lines = 15) => (text ?? '').trimEnd().split('\n').slice(-lines).join('\n');

/** steps.tsv of the guest: step → exit status and seconds. */
function steps(job: string): Map<string, { rc: number; seconds: number }> {
  const out = new Map<string, { rc: number; seconds: number }>();
  for (const line of (readText(path.join(job, 'steps.tsv')) ?? '').split('\n')) {
    const [name, rc, ms] = line.split('\t');
    if (name) out.set(name, { rc: Number(rc), seconds: Number(ms) / 1000 });
  }
  return out;
}

interface DoctorCheck {
  check: string;
  status: 'ok' | 'warn' | 'fail';
  detail: string;
  fix: string;
}

function judgeDoctorFull(column: string, job: string, seconds: number | undefined): void {
  const checks = readJson<DoctorCheck[]>(path.join(job, 'doctor.json'));
  if (!checks) {
    put('doctor: every check ok', column, {
      status: 'FAIL',
      seconds,
      detail: `no doctor --json output: ${tail(readText(path.join(job, 'doctor.err')))}`,
    });
    return;
  }
  // Runtime sockets of daemons this guest does not run are warnings by design.
  const bad = checks.filter((c) => c.status !== 'ok' && !c.check.startsWith('runtime socket'));
  put('doctor: every check ok', column, {
    status: bad.length ? 'FAIL' : 'ok',
    seconds,
    detail: bad.map((c) => `${c.status} ${c.check}: ${c.detail}`).join('; '),
  });
  const programs = checks.filter((c) => c.check.startsWith('bpf program '));
  const loaded = programs.filter((c) => c.status === 'ok');
  put(`BPF programs load and attach`, column, {
    status: programs.length > 0 && loaded.length === programs.length ? 'ok' : 'FAIL',
    detail: `${loaded.length}/${programs.length}${
      programs.length > loaded.length
        ? `: ${programs
            .filter((c) => c.status !== 'ok')
            .map((c) => `${c.check}: ${c.detail}`)
            .join('; ')}`
        : ''
    }`,
  });
  const identity = checks.find((c) => c.check === 'container identity');
  put('containers keyed by cgroup v2 ids', column, {
    status: identity?.status === 'ok' && identity.detail.includes('unified cgroup v2') ? 'ok' : 'FAIL',
    detail: identity?.detail ?? 'no container identity check',
  });
}

interface JestAssertion {
  ancestorTitles: string[];
  title: string;
  status: 'passed' | 'failed' | 'pending' | 'skipped' | 'todo' | 'disabled';
  duration?: number | null;
  failureMessages: string[];
}
interface JestFile {
  name: string;
  status: 'passed' | 'failed';
  message: string;
  assertionResults: JestAssertion[];
}

/** Short labels for the test files the guests run. */
const FILE_LABELS: Array<[RegExp, string]> = [
  [/test\/native\/ebpf-receiver\.test\.ts$/, 'receiver'],
  [/containers\.vmtest\.ts$/, 'containers'],
  [/systemd-cgroup\.vmtest\.ts$/, 'systemd'],
];

function judgeJest(column: string, job: string, seconds: number | undefined): void {
  const report = readJson<{ testResults: JestFile[] }>(path.join(job, 'jest.json'));
  if (!report) {
    put('jest in the guest', column, { status: 'FAIL', seconds, detail: `no jest report: ${tail(readText(path.join(job, 'out.log')))}` });
    return;
  }
  put('jest in the guest (all files)', column, { status: report.testResults.every((f) => f.status === 'passed') ? 'ok' : 'FAIL', seconds });
  for (const file of report.testResults) {
    const label = FILE_LABELS.find(([re]) => re.test(file.name))?.[1] ?? path.basename(file.name);
    if (file.assertionResults.length === 0) {
      put(`${label}: (file)`, column, { status: file.status === 'passed' ? 'ok' : 'FAIL', detail: file.message });
      continue;
    }
    for (const a of file.assertionResults) {
      const title = a.title.length > 90 ? `${a.title.slice(0, 87)}...` : a.title;
      put(`${label}: ${title}`, column, {
        status: a.status === 'passed' ? 'ok' : a.status === 'failed' ? 'FAIL' : 'skip',
        seconds: a.duration != null ? a.duration / 1000 : undefined,
        detail: a.failureMessages.join('\n') || (a.status === 'failed' ? file.message : undefined),
      });
    }
  }
}

function judgeOld(column: string, job: string, release: string): void {
  const s = steps(job);
  // The words `doctor` uses for this kernel (the same code, run here).
  const kernel = checkKernel(release);
  const run = s.get('run');
  const err = readText(path.join(job, 'run.err')) ?? '';
  const out = readText(path.join(job, 'run.out')) ?? '';
  const lines = err.split('\n').filter((l) => l !== '');
  const expected = `${kernel.check}: ${kernel.detail}; ${kernel.fix}`;
  const problems: string[] = [];
  if (kernel.status !== 'fail') problems.push(`doctor does not fail ${release}`);
  if (!run) problems.push('run did not run');
  else if (run.rc === 0 || run.rc === 124) problems.push(run.rc === 0 ? 'run exited 0' : 'run did not exit within 120 s');
  if (lines.length !== 1) problems.push(`stderr has ${lines.length} lines, not one`);
  if (!lines[0]?.includes(release) || !lines[0]?.includes('5.13')) problems.push('the line does not name the kernel and 5.13');
  if (lines[0] !== expected) problems.push(`not doctor's words (${JSON.stringify(expected)})`);
  if (out !== '') problems.push('it wrote to stdout');
  put("run refuses below 5.13: one line (doctor's words), exit != 0, nothing else", column, {
    status: problems.length ? 'FAIL' : 'ok',
    seconds: run?.seconds,
    detail: `${problems.join('; ')}${problems.length ? '; ' : ''}exit ${run?.rc}; stderr: ${JSON.stringify(err.trimEnd())}`,
  });
  // For scale: TCG makes node slow; the refusal costs node's start plus loading the CLI, nothing more.
  const node = s.get('node');
  if (node) put('  `node -e 0` here, for scale', column, { status: node.rc === 0 ? 'ok' : 'FAIL', seconds: node.seconds });
}

function judgeSystemd(column: string, job: string): void {
  const pid1 = (readText(path.join(job, 'pid1.txt')) ?? '').split('\n');
  put('systemd is PID 1', column, {
    status: /\/systemd$/.test(pid1[0] ?? '') ? 'ok' : 'FAIL',
    detail: `PID 1 ${pid1[0] || '?'}, system ${pid1[1] || '?'}`,
  });
}

/** Runs boot.sh for one scenario, its output prefixed with the column; resolves with the exit status. */
function boot(scenario: Scenario, kernelDir: string, job: string): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn('bash', [path.join(REPO, 'test/vm/boot.sh'), kernelDir, job], {
      cwd: REPO,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        ECO_VM_INIT: scenario.init,
        ECO_VM_TIMEOUT: String(scenario.timeoutS),
        ECO_VM_SHARES: path.join(CACHE, 'guest'),
      },
    });
    const prefix = (stream: NodeJS.ReadableStream, out: NodeJS.WriteStream) => {
      let rest = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => {
        const lines = (rest + chunk).split('\n');
        rest = lines.pop()!;
        for (const l of lines) out.write(`[${scenario.column}] ${l}\n`);
      });
      stream.on('end', () => rest && out.write(`[${scenario.column}] ${rest}\n`));
    };
    prefix(child.stdout, process.stdout);
    prefix(child.stderr, process.stderr);
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}

function guestScript(scenario: Scenario, job: string): string {
  const guestCache = path.join(CACHE, 'guest');
  return [
    `export PATH=${REPO}/node_modules/.bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
    'export HOME=/root CI=true LANG=C.UTF-8',
    `export ECO_VM_JOB=${job} ECO_VM_GUEST_CACHE=${guestCache}`,
    `cd ${REPO}`,
    `exec bash test/vm/guest/suite.sh ${scenario.suite}`,
    '',
  ].join('\n');
}

function printMatrix(columns: string[]): void {
  const cellText = (c: Cell | undefined) =>
    c ? `${c.status === 'ok' && c.text ? c.text : c.status}${c.seconds !== undefined ? ` ${c.seconds.toFixed(1)}s` : ''}` : '-';
  const rows = [...matrix.keys()];
  const width = Math.min(100, Math.max(...rows.map((r) => r.length), 5));
  const colWidth = columns.map((c) => Math.max(c.length, ...rows.map((r) => cellText(matrix.get(r)!.get(c)).length)) + 2);
  const line = (label: string, cells: string[]) => `${label.padEnd(width)}${cells.map((c, i) => c.padStart(colWidth[i])).join('')}`;
  const out = [
    '',
    line('check \\ kernel', columns),
    line(
      '-'.repeat(width),
      columns.map((_, i) => '-'.repeat(colWidth[i] - 2)),
    ),
  ];
  for (const r of rows)
    out.push(
      line(
        r.length > width ? `${r.slice(0, width - 3)}...` : r,
        columns.map((c) => cellText(matrix.get(r)!.get(c))),
      ),
    );
  const notes: string[] = [];
  for (const r of rows) {
    for (const c of columns) {
      const cell = matrix.get(r)!.get(c);
      if (cell && cell.status !== 'ok' && cell.detail)
        notes.push(`[${c}] ${r}: ${cell.status}\n    ${cell.detail.split('\n').slice(0, 30).join('\n    ')}`);
    }
  }
  process.stdout.write(`${out.join('\n')}\n${notes.length ? `\n${notes.join('\n')}\n` : ''}`);
}

async function main(): Promise<number> {
  const t0 = Date.now();
  const scenarios = SCENARIOS.filter((s) => ONLY.length === 0 || ONLY.includes(s.column));
  if (scenarios.length === 0) {
    say(`ECO_VM_ONLY=${ONLY.join(',')} names no column of ${SCENARIOS.map((s) => s.column).join(', ')}`);
    return 2;
  }
  const columns = scenarios.map((s) => s.column);
  mkdirSync(path.join(CACHE, 'guest'), { recursive: true });

  // Kernels: fetched once, then from the cache.
  const slots = [...new Set(scenarios.map((s) => s.slot))];
  const fetched = spawnSync('bash', [path.join(REPO, 'test/vm/kernels.sh'), ...slots], {
    encoding: 'utf8',
    env: { ...process.env, ECO_VM_CACHE: CACHE },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const kernels = new Map<string, { dir: string; how: string }>();
  for (const l of fetched.stdout.split('\n')) {
    const [slot, dir, how] = l.split('\t');
    if (slot && dir) kernels.set(slot, { dir, how });
  }
  const fetchSeconds = (Date.now() - t0) / 1000;
  for (const s of scenarios) {
    const k = kernels.get(s.slot);
    put(
      'kernel package (fetched | cached)',
      s.column,
      k ? { status: 'ok', seconds: fetchSeconds, text: k.how } : { status: 'FAIL', detail: `kernels.sh failed (exit ${fetched.status})` },
    );
  }
  say(`kernels (${fetchSeconds.toFixed(1)} s): ${[...kernels].map(([slot, k]) => `${slot} ${path.basename(k.dir)} ${k.how}`).join(', ')}`);

  for (const s of scenarios) {
    const k = kernels.get(s.slot);
    if (!k) continue;
    const release = readFileSync(path.join(k.dir, 'release'), 'utf8').trim();
    const job = mkdtempSync(path.join(os.tmpdir(), `eco-vm-${s.column.replace(/[^\w.]/g, '_')}-`));
    writeFileSync(path.join(job, 'guest.sh'), guestScript(s, job));
    say(`${s.column}: booting ${release} (${s.init} as PID 1, suite ${s.suite}); job ${job}`);
    const started = Date.now();
    const rc = await boot(s, k.dir, job);
    const seconds = (Date.now() - started) / 1000;
    const bootSeconds = Number(readText(path.join(job, 'boot-seconds')));
    put('kernel', s.column, { status: 'ok', text: release });
    put(
      'boot to the guest suite',
      s.column,
      Number.isFinite(bootSeconds) && bootSeconds > 0
        ? { status: 'ok', seconds: bootSeconds }
        : { status: 'FAIL', detail: tail(readText(path.join(job, 'console.log')), 30) },
    );
    put('guest ran to the end (whole VM)', s.column, {
      status: rc === 0 ? 'ok' : 'FAIL',
      seconds,
      detail:
        rc === 0
          ? undefined
          : `boot.sh exit ${rc}${rc === 124 ? ` (timeout ${s.timeoutS} s)` : ''}; kernel log tail:\n${tail(readText(path.join(job, 'console.log')), 20)}`,
    });
    const st = steps(job);
    if (s.suite === 'full') {
      judgeDoctorFull(s.column, job, st.get('doctor')?.seconds);
      judgeJest(s.column, job, st.get('jest')?.seconds);
    } else if (s.suite === 'systemd') {
      judgeSystemd(s.column, job);
      judgeJest(s.column, job, st.get('jest')?.seconds);
    } else {
      judgeOld(s.column, job, release);
    }
    if (process.env.ECO_VM_KEEP === '1') say(`${s.column}: kept ${job}`);
    else rmSync(job, { recursive: true, force: true });
  }

  const total = (Date.now() - t0) / 1000;
  put(`matrix wall time (budget ${BUDGET_S} s)`, columns[0], {
    status: total <= BUDGET_S ? 'ok' : 'FAIL',
    seconds: total,
    detail: total <= BUDGET_S ? undefined : `took ${total.toFixed(0)} s, over the ${BUDGET_S} s budget`,
  });
  printMatrix(columns);
  const failed = [...matrix.values()].some((cols) => [...cols.values()].some((c) => c.status === 'FAIL'));
  say(`${failed ? 'FAILED' : 'passed'} in ${total.toFixed(0)} s`);
  return failed ? 1 : 0;
}

if (!existsSync(path.join(REPO, 'test/vm/boot.sh'))) throw new Error(`test/vm/boot.sh not found under ${REPO}`);
main().then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`kernels: ${err.stack ?? err.message}\n`);
    process.exit(1);
  },
);
