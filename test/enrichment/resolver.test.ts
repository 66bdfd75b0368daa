import type { ContainerInfo } from '../../src/events';
import { getFromRuntimes } from '../../src/processors/container-enrichment/resolver';
import type { RuntimeClient } from '../../src/processors/container-enrichment/runtime/types';
import { container, FakeRuntimeClient } from './fakes';

/** A promise with its resolver, to decide in the test when a runtime answers. */
function gate<T>(): { promise: Promise<T>; open(value: T): void } {
  let open!: (value: T) => void;
  const promise = new Promise<T>((r) => (open = r));
  return { promise, open };
}

const tick = () => new Promise((r) => setImmediate(r));

/** A runtime whose get() and identify() answer when the test says so. */
function gatedClient(runtime: ContainerInfo['runtime'] = 'containerd') {
  const gets = new Map<string, ReturnType<typeof gate<ContainerInfo | undefined>>>();
  const identifies = new Map<string, ReturnType<typeof gate<ContainerInfo | undefined>>>();
  const pending = (m: typeof gets, id: string) => {
    if (!m.has(id)) m.set(id, gate());
    return m.get(id)!;
  };
  const client: RuntimeClient = Object.assign(new FakeRuntimeClient(runtime), {
    get: (id: string) => pending(gets, id).promise,
    identify: (id: string) => pending(identifies, id).promise,
  });
  return { client, get: (id: string) => pending(gets, id), identify: (id: string) => pending(identifies, id) };
}

describe('on-demand lookup across runtimes (getFromRuntimes)', () => {
  test("settles on identify() without waiting for get(); get()'s fuller answer follows through `later`", async () => {
    const rt = gatedClient();
    const later: ContainerInfo[] = [];
    const result = getFromRuntimes(['c1'], [rt.client], (info) => later.push(info));
    const partial = container('c1', 0, { runtime: 'containerd', state: 'unknown' });
    rt.identify('c1').open(partial);
    await expect(result).resolves.toBe(partial);
    expect(later).toEqual([]);
    const full = container('c1', 0, { runtime: 'containerd', state: 'running', pid: 42 });
    rt.get('c1').open(full);
    await tick();
    expect(later).toEqual([full]);
  });

  test("a client's identify() answer after its own get() answer is dropped (it says less)", async () => {
    const rt = gatedClient();
    const later: ContainerInfo[] = [];
    const result = getFromRuntimes(['c1'], [rt.client], (info) => later.push(info));
    const full = container('c1', 0, { runtime: 'containerd', pid: 42 });
    rt.get('c1').open(full);
    await expect(result).resolves.toBe(full);
    rt.identify('c1').open(container('c1', 0, { runtime: 'containerd', state: 'unknown' }));
    await tick();
    expect(later).toEqual([]);
  });

  test('the most specific id wins even when a less specific one is known first', async () => {
    const rt = gatedClient();
    let settled: ContainerInfo | undefined | null = null;
    void getFromRuntimes(['inner', 'outer'], [rt.client], () => undefined).then((v) => (settled = v));
    rt.get('outer').open(container('outer', 0));
    rt.identify('outer').open(undefined);
    await tick();
    // `inner` may still be known: no choice yet.
    expect(settled).toBeNull();
    const inner = container('inner', 0);
    rt.identify('inner').open(inner);
    await tick();
    expect(settled).toBe(inner);
  });

  test('a less specific id answers once no runtime knows the more specific one; none known → undefined', async () => {
    const a = gatedClient('containerd');
    const b = new FakeRuntimeClient('docker');
    const outer = container('outer', 0);
    b.containers.set('outer', outer);
    const result = getFromRuntimes(['inner', 'outer'], [a.client, b], () => undefined);
    for (const id of ['inner', 'outer']) {
      a.get(id).open(undefined);
      a.identify(id).open(undefined);
    }
    await expect(result).resolves.toBe(outer);
    await expect(getFromRuntimes(['x'], [b], () => undefined)).resolves.toBeUndefined();
    await expect(getFromRuntimes([], [b], () => undefined)).resolves.toBeUndefined();
  });

  test('one id, as the enrichment processor asks: the first runtime to know it settles; the others follow through `later`', async () => {
    const slow = gatedClient('docker');
    const fast = new FakeRuntimeClient('containerd');
    const fromContainerd = container('c1', 0, { runtime: 'containerd' });
    fast.containers.set('c1', fromContainerd);
    const later: ContainerInfo[] = [];
    await expect(getFromRuntimes(['c1'], [slow.client, fast], (info) => later.push(info))).resolves.toBe(fromContainerd);
    const fromDocker = container('c1', 0, { runtime: 'docker', name: 'web' });
    slow.identify('c1').open(undefined);
    slow.get('c1').open(fromDocker);
    await tick();
    expect(later).toEqual([fromDocker]);
  });

  test('a failing runtime counts as not knowing; a sandbox is the answer only when no workload container is known', async () => {
    const failing = new FakeRuntimeClient('cri');
    failing.unreachable = true;
    failing.get = async () => {
      throw new Error('connection refused');
    };
    const sandboxes = new FakeRuntimeClient('docker');
    sandboxes.containers.set('p', container('p', 0, { sandbox: true }));
    await expect(getFromRuntimes(['p'], [failing, sandboxes], () => undefined)).resolves.toMatchObject({ id: 'p', sandbox: true });
    await expect(getFromRuntimes(['q'], [failing, sandboxes], () => undefined)).resolves.toBeUndefined();
    const workload = new FakeRuntimeClient('cri');
    workload.containers.set('w', container('w', 0));
    sandboxes.containers.set('w', container('w', 0, { sandbox: true }));
    await expect(getFromRuntimes(['w'], [sandboxes, workload], () => undefined)).resolves.toMatchObject({ id: 'w', sandbox: false });
  });
});
