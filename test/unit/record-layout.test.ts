import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { PACKAGE_ROOT } from '../../src/pipeline/paths';
import {
  CgroupRecord,
  Connect,
  EVENT_TYPE_NAMES,
  EVENT_VERSION,
  Exec,
  Exit,
  Header,
  Open,
  RECORD_TYPES,
  RecordType,
  TRACED_EVENT_NAMES,
  Throttle,
} from '../../src/events/record';

/**
 * Compiles native/bpf/events.h with the host C compiler and compares every
 * offsetof/sizeof with the TypeScript mirror in src/events/record.ts; the
 * addon's EVENT_NAMES is compiled along, so the record type list of
 * record.ts is checked against both C sides without building the addon.
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
  ['Throttle.state', 'offsetof(struct throttle_event, state)'],
  ['Throttle.dropped', 'offsetof(struct throttle_event, dropped)'],
  ['Throttle.length', 'sizeof(struct throttle_event)'],
  ['Throttle.start', 'THROTTLE_START'],
  ['Throttle.stop', 'THROTTLE_STOP'],
  ['CgroupRecord.hierarchyId', 'offsetof(struct cgroup_event, hierarchy_id)'],
  ['CgroupRecord.pathLength', 'offsetof(struct cgroup_event, path_len)'],
  ['CgroupRecord.path', 'offsetof(struct cgroup_event, path)'],
  // enum event_type: EVENT_EXEC for exec, EVENT_CGROUP_MKDIR for cgroup_mkdir.
  ...RECORD_TYPES.map((t): [string, string] => [`RecordType.${t.name}`, `EVENT_${t.name.toUpperCase()}`]),
  ['RecordType.max', 'EVENT_TYPE_MAX'],
];

const TS: Record<string, number> = {};
for (const [prefix, table] of Object.entries({ Header, Exec, Exit, Open, Connect, RecordType, CgroupRecord, Throttle }) as Array<
  [string, Record<string, number>]
>) {
  for (const [k, v] of Object.entries(table)) TS[`${prefix}.${k}`] = v;
}
TS.EVENT_VERSION = EVENT_VERSION;
TS['RecordType.max'] = Math.max(...RECORD_TYPES.map((t) => t.code));

const ADDON = path.join(PACKAGE_ROOT, 'native', 'addon');

/** The addon's record type names (`EVENT_NAMES[type]`), as written in its source. */
function addonEventNames(): string {
  const found = readdirSync(ADDON)
    .filter((f) => /\.[ch]$/.test(f))
    .flatMap(
      (f) => readFileSync(path.join(ADDON, f), 'utf8').match(/^static const char \*(?:const )?EVENT_NAMES\[\] = \{[^}]*\};$/gm) ?? [],
    );
  if (found.length !== 1) throw new Error(`expected one definition of EVENT_NAMES in ${ADDON}, found ${found.length}`);
  return found[0];
}

interface Layout {
  fields: Record<string, number>;
  /** EVENT_NAMES of the addon, index by index (null where NULL). */
  eventNames: Array<string | null>;
}

function compileLayout(): Layout {
  const dir = mkdtempSync(path.join(tmpdir(), 'eco-layout-'));
  try {
    const src = path.join(dir, 'layout.c');
    const bin = path.join(dir, 'layout');
    const prints = FIELDS.map(([name, expr]) => `\tprintf("%s\\"${name}\\": %lu", first++ ? ", " : "", (unsigned long)(${expr}));`);
    const names = [
      '\tprintf("}, \\"eventNames\\": [");',
      '\tfor (size_t i = 0; i < sizeof(EVENT_NAMES) / sizeof(EVENT_NAMES[0]); i++) {',
      '\t\tprintf("%s", i ? ", " : "");',
      '\t\tif (EVENT_NAMES[i])',
      '\t\t\tprintf("\\"%s\\"", EVENT_NAMES[i]);',
      '\t\telse',
      '\t\t\tprintf("null");',
      '\t}',
    ];
    writeFileSync(
      src,
      [
        '#include <linux/types.h>',
        '#include <stddef.h>',
        '#include <stdio.h>',
        '#include "events.h"',
        addonEventNames(),
        'int main(void)',
        '{',
        '\tint first = 0;',
        '\tprintf("{\\"fields\\": {");',
        ...prints,
        ...names,
        '\tprintf("]}\\n");',
        '\treturn 0;',
        '}',
        '',
      ].join('\n'),
    );
    execFileSync('cc', ['-Wall', '-Werror', '-I', path.join(PACKAGE_ROOT, 'native', 'bpf'), src, '-o', bin]);
    return JSON.parse(execFileSync(bin, { encoding: 'utf8' })) as Layout;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const layout = compileLayout();

describe('record layout: native/bpf/events.h vs src/events/record.ts', () => {
  const c = layout.fields;

  it.each(FIELDS.map(([name]) => name))('%s matches', (name) => {
    expect(TS[name]).toBeDefined();
    expect(TS[name]).toBe(c[name]);
  });

  it('keeps every record 8-byte aligned and the header at 72 bytes', () => {
    expect(c['Header.length']).toBe(72);
    for (const key of ['Exit.length', 'Connect.length', 'Exec.data', 'Open.path']) expect(c[key] % 8).toBe(0);
  });
});

describe('record types: RECORD_TYPES is the one list', () => {
  it('numbers them 1, 2, … in order, the exported and the traced ones first', () => {
    // eventTypeName and per-type counters index by code - 1.
    expect(RECORD_TYPES.map((t) => t.code)).toEqual(RECORD_TYPES.map((_, i) => i + 1));
    expect(EVENT_TYPE_NAMES).toEqual(RECORD_TYPES.slice(0, EVENT_TYPE_NAMES.length).map((t) => t.name));
    expect(TRACED_EVENT_NAMES).toEqual(RECORD_TYPES.slice(0, TRACED_EVENT_NAMES.length).map((t) => t.name));
  });

  it("the addon's EVENT_NAMES names each type at its number", () => {
    expect(layout.eventNames).toEqual([null, ...RECORD_TYPES.map((t) => t.name)]);
  });

  it('the config schema offers the traced ones for receivers.ebpf.events', () => {
    const schema = JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'config', 'schema.json'), 'utf8'));
    expect(schema.definitions.ebpf.properties.events.items.enum).toEqual(TRACED_EVENT_NAMES);
  });
});
