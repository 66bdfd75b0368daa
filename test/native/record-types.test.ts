/**
 * The addon's side of the one record type list (RECORD_TYPES, src/events/record.ts):
 * test/unit/record-layout.test.ts checks its EVENT_NAMES table by compiling it;
 * this checks what the loaded addon does with the names.
 */
import { RECORD_TYPE_NAMES, type RecordTypeName, TRACED_EVENT_NAMES } from '../../src/events';
import { probePrograms } from '../../src/native';
import { requires } from '../harness/requires';

requires('bpf').describe('record types: the addon against RECORD_TYPES', () => {
  it('its programs produce traced types and attribution records, each named as the list names it', () => {
    const events = new Set(probePrograms({ events: [...TRACED_EVENT_NAMES] }).map((p) => p.event));
    for (const e of TRACED_EVENT_NAMES) expect(events).toContain(e);
    for (const e of events) expect(RECORD_TYPE_NAMES).toContain(e);
  });

  it.each(RECORD_TYPE_NAMES.filter((name) => !(TRACED_EVENT_NAMES as readonly RecordTypeName[]).includes(name)))(
    'refuses %s in events: no program of its own to select',
    (name) => {
      expect(() => probePrograms({ events: [name as never] })).toThrow(`"${name}" is not one of`);
    },
  );
});
