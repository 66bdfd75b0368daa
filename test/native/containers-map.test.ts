import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import {
  createPinnedContainersMap,
  decodeContainerValue,
  encodeContainerValue,
  openPinnedContainersMap,
  unpinPath,
} from '../../src/native';
import type { PinnedContainersMap } from '../../src/native';
import { requires } from '../harness/requires';

const DIR = `/sys/fs/bpf/ebpf-container-otel-test-${process.pid}`;

requires('bpf', 'bpftool').describe('pinned containers map (Inspektor Gadget layout)', () => {
  const opened: PinnedContainersMap[] = [];
  afterEach(() => {
    for (const m of opened.splice(0)) m.close();
  });
  afterAll(() => rmSync(DIR, { recursive: true, force: true }));

  it('creates the pin (mkdir -p), reuses it, and round-trips entries', () => {
    const pin = `${DIR}/nested/containers`;
    const created = createPinnedContainersMap(pin, 64);
    opened.push(created);
    expect(existsSync(pin)).toBe(true);
    created.update({ mntns: 4026532999, containerId: 'abc123', namespace: 'default', pod: 'web-0', container: 'nginx' });

    const again = createPinnedContainersMap(pin, 64);
    const reader = openPinnedContainersMap(pin);
    opened.push(again, reader);
    expect(reader.lookup(4026532999)).toEqual({
      mntns: 4026532999,
      containerId: 'abc123',
      namespace: 'default',
      pod: 'web-0',
      container: 'nginx',
    });
    expect(again.entries()).toHaveLength(1);
    expect(reader.lookup(1)).toBeUndefined();
    expect(reader.delete(4026532999)).toBe(true);
    expect(reader.delete(4026532999)).toBe(false);
    expect(created.entries()).toEqual([]);

    unpinPath(pin);
    expect(existsSync(pin)).toBe(false);
    unpinPath(pin); // absent is fine
  });

  it('is the same map bpftool sees: hash, key 8, value 1024', () => {
    const pin = `${DIR}/seen-by-bpftool`;
    opened.push(createPinnedContainersMap(pin, 16));
    const info = JSON.parse(execFileSync('bpftool', ['-j', 'map', 'show', 'pinned', pin], { encoding: 'utf8' }));
    expect(info).toMatchObject({ type: 'hash', bytes_key: 8, bytes_value: 1024, max_entries: 16 });
  });

  it('refuses a pinned map with another layout, naming the path and what it found', () => {
    mkdirSync(DIR, { recursive: true });
    const pin = `${DIR}/wrong-layout`;
    execFileSync('bpftool', ['map', 'create', pin, 'type', 'array', 'key', '4', 'value', '8', 'entries', '4', 'name', 'wrong']);
    const expected = new RegExp(`containers map ${pin}: found a array map with key_size 4 and value_size 8; expected hash`);
    expect(() => openPinnedContainersMap(pin)).toThrow(expected);
    expect(() => createPinnedContainersMap(pin, 16)).toThrow(expected);
    unpinPath(pin);
  });

  it('reports a missing pin with the path and a hint', () => {
    expect(() => openPinnedContainersMap(`${DIR}/absent`)).toThrow(
      /containers map .*absent: cannot open the pin: No such file or directory/,
    );
  });
});

describe('containers map value encoding', () => {
  it('truncates each field at 255 bytes without splitting a UTF-8 character', () => {
    const long = 'é'.repeat(200); // 400 bytes
    const value = encodeContainerValue({ mntns: 1, containerId: long, namespace: 'ns', pod: 'x'.repeat(300), container: '' });
    expect(value.length).toBe(1024);
    expect(value[255]).toBe(0);
    const back = decodeContainerValue(1, value);
    expect(back.containerId).toBe('é'.repeat(127));
    expect(back.pod).toBe('x'.repeat(255));
    expect(back.namespace).toBe('ns');
    expect(back.container).toBe('');
  });
});
