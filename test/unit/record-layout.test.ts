import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { PACKAGE_ROOT } from '../../src/pipeline/paths';
import { CgroupRecord, Connect, EVENT_VERSION, EventType, Exec, Exit, Header, Open, Throttle } from '../../src/events/record';

/**
 * Compiles native/bpf/events.h with the host C compiler and compares every
 * offsetof/sizeof with the TypeScript mirror in src/events/record.ts.
 */
const FIELDS: Array<[string, string]> = [
  ['Header.size', 'offsetof(struct event_header, size)'],
  ['Header.type', 'offsetof(struct event_header, type)'],
  ['Header.version', 'offsetof(struct event_header, version)'],
  ['Header.tsBootNs', 'offsetof(struct event_header, ts_boot_ns)'],
  ['Header.pid', 'offsetof(struct event_header, pid)'],
  ['Header.tgid', 'offsetof(struct event_header, tgid)'],
  ['Header.ppid', 'offsetof(struct event_header, ppid)'],
  ['Header.uid', 'offsetof(struct event_header, uid)'],
  ['Header.gid', 'offsetof(struct event_header, gid)'],
  ['Header.flags', 'offsetof(struct event_header, flags)'],
  ['Header.mntns', 'offsetof(struct event_header, mntns)'],
  ['Header.cgroupId', 'offsetof(struct event_header, cgroup_id)'],
  ['Header.comm', 'offsetof(struct event_header, comm)'],
  ['Header.commLength', 'sizeof(((struct event_header *)0)->comm)'],
  ['Header.length', 'sizeof(struct event_header)'],
  ['Exec.filenameLength', 'offsetof(struct exec_event, filename_len)'],
  ['Exec.argsLength', 'offsetof(struct exec_event, args_len)'],
  ['Exec.flags', 'offsetof(struct exec_event, flags)'],
  ['Exec.data', 'offsetof(struct exec_event, data)'],
  ['Exec.argsTruncatedFlag', 'EXEC_ARGS_TRUNCATED'],
  ['Exit.exitCode', 'offsetof(struct exit_event, exit_code)'],
  ['Exit.exitSignal', 'offsetof(struct exit_event, exit_signal)'],
  ['Exit.durationNs', 'offsetof(struct exit_event, duration_ns)'],
  ['Exit.length', 'sizeof(struct exit_event)'],
  ['Open.ret', 'offsetof(struct open_event, ret)'],
  ['Open.flags', 'offsetof(struct open_event, flags)'],
  ['Open.mode', 'offsetof(struct open_event, mode)'],
  ['Open.pathLength', 'offsetof(struct open_event, path_len)'],
  ['Open.path', 'offsetof(struct open_event, path)'],
  ['Connect.ret', 'offsetof(struct connect_event, ret)'],
  ['Connect.family', 'offsetof(struct connect_event, family)'],
  ['Connect.port', 'offsetof(struct connect_event, port)'],
  ['Connect.addr', 'offsetof(struct connect_event, addr)'],
  ['Connect.sockType', 'offsetof(struct connect_event, sock_type)'],
  ['Connect.length', 'sizeof(struct connect_event)'],
  ['EVENT_VERSION', 'EVENT_VERSION'],
  ['EventType.exec', 'EVENT_EXEC'],
  ['EventType.exit', 'EVENT_EXIT'],
  ['EventType.open', 'EVENT_OPEN'],
  ['EventType.connect', 'EVENT_CONNECT'],
  ['EventType.throttle', 'EVENT_THROTTLE'],
  ['Throttle.state', 'offsetof(struct throttle_event, state)'],
  ['Throttle.dropped', 'offsetof(struct throttle_event, dropped)'],
  ['Throttle.length', 'sizeof(struct throttle_event)'],
  ['Throttle.start', 'THROTTLE_START'],
  ['Throttle.stop', 'THROTTLE_STOP'],
  ['CgroupRecord.mkdir', 'EVENT_CGROUP_MKDIR'],
  ['CgroupRecord.rmdir', 'EVENT_CGROUP_RMDIR'],
  ['CgroupRecord.hierarchyId', 'offsetof(struct cgroup_event, hierarchy_id)'],
  ['CgroupRecord.pathLength', 'offsetof(struct cgroup_event, path_len)'],
  ['CgroupRecord.path', 'offsetof(struct cgroup_event, path)'],
];

const TS: Record<string, number> = {};
for (const [prefix, table] of Object.entries({ Header, Exec, Exit, Open, Connect, EventType, CgroupRecord, Throttle }) as Array<
  [string, Record<string, number>]
>) {
  for (const [k, v] of Object.entries(table)) TS[`${prefix}.${k}`] = v;
}
TS.EVENT_VERSION = EVENT_VERSION;

function compileLayout(): Record<string, number> {
  const dir = mkdtempSync(path.join(tmpdir(), 'eco-layout-'));
  try {
    const src = path.join(dir, 'layout.c');
    const bin = path.join(dir, 'layout');
    const prints = FIELDS.map(([name, expr]) => `\tprintf("%s\\"${name}\\": %lu", first++ ? ", " : "", (unsigned long)(${expr}));`);
    writeFileSync(
      src,
      [
        '#include <linux/types.h>',
        '#include <stddef.h>',
        '#include <stdio.h>',
        '#include "events.h"',
        'int main(void)',
        '{',
        '\tint first = 0;',
        '\tprintf("{");',
        ...prints,
        '\tprintf("}\\n");',
        '\treturn 0;',
        '}',
        '',
      ].join('\n'),
    );
    execFileSync('cc', ['-Wall', '-Werror', '-I', path.join(PACKAGE_ROOT, 'native', 'bpf'), src, '-o', bin]);
    return JSON.parse(execFileSync(bin, { encoding: 'utf8' })) as Record<string, number>;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('record layout: native/bpf/events.h vs src/events/record.ts', () => {
  const c = compileLayout();

  it.each(FIELDS.map(([name]) => name))('%s matches', (name) => {
    expect(TS[name]).toBeDefined();
    expect(TS[name]).toBe(c[name]);
  });

  it('keeps every record 8-byte aligned and the header at 72 bytes', () => {
    expect(c['Header.length']).toBe(72);
    for (const key of ['Exit.length', 'Connect.length', 'Exec.data', 'Open.path']) expect(c[key] % 8).toBe(0);
  });
});
