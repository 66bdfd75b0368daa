import type { ContainerInfo } from '../../src/events';
import { RecentContainers, SharedLookups } from '../../src/processors/container-enrichment/runtime/common';

describe('SharedLookups (image lookups shared by the containers of an image)', () => {
  it('shares one call between concurrent asks and answers from cache within the TTL', async () => {
    const cache = new SharedLookups<string>(4, 60_000);
    let calls = 0;
    const lookup = () => new Promise<string>((resolve) => setTimeout(() => resolve(`answer ${++calls}`), 5));
    const answers = await Promise.all([cache.get('img', lookup), cache.get('img', lookup)]);
    expect(answers).toEqual(['answer 1', 'answer 1']);
    expect(await cache.get('img', lookup)).toBe('answer 1');
    expect(calls).toBe(1);
  });

  it('asks again once the TTL has passed', async () => {
    const cache = new SharedLookups<number>(4, 0);
    let calls = 0;
    await cache.get('img', async () => ++calls);
    await cache.get('img', async () => ++calls);
    expect(calls).toBe(2);
  });

  it('keeps at most `max` keys, dropping the oldest, and counts each drop', async () => {
    const cache = new SharedLookups<string>(2, 60_000);
    const asked: string[] = [];
    const lookup = (key: string) => async () => {
      asked.push(key);
      return key;
    };
    for (const key of ['a', 'b', 'c']) await cache.get(key, lookup(key));
    expect(cache.evictions).toBe(1);
    await cache.get('b', lookup('b'));
    await cache.get('a', lookup('a'));
    expect(asked).toEqual(['a', 'b', 'c', 'a']);
    expect(cache.evictions).toBe(2);
  });

  it('does not remember a failed lookup', async () => {
    const cache = new SharedLookups<string>(4, 60_000);
    await expect(cache.get('img', () => Promise.reject(new Error('daemon busy')))).rejects.toThrow('daemon busy');
    expect(await cache.get('img', async () => 'sha256:ab')).toBe('sha256:ab');
  });
});

describe('RecentContainers (what a runtime said about containers it has since removed)', () => {
  const info = (id: string, over: Partial<ContainerInfo> = {}): ContainerInfo => ({
    id,
    name: `${id}-name`,
    runtime: 'docker',
    state: 'running',
    pid: 42,
    mntns: 4026532000,
    cgroupPath: `/docker/${id}`,
    image: { name: 'busybox', id: 'sha256:aa', digest: '' },
    labels: { team: 'obs' },
    sandbox: false,
    startedAt: '2024-01-01T00:00:00Z',
    ...over,
  });

  it('recalls a container as stopped, without the pid and mount namespace others may reuse', () => {
    const recent = new RecentContainers();
    recent.remember(info('c1'));
    expect(recent.recall('c1')).toEqual({ ...info('c1'), state: 'stopped', pid: 0, mntns: 0 });
    expect(recent.recall('c2')).toBeUndefined();
  });

  it("an event's thinner description never replaces the runtime's fuller answer, and counts where nothing is known", () => {
    const recent = new RecentContainers();
    recent.remember(info('c1'));
    recent.refresh('c1', info('c1', { image: { name: 'busybox', id: '', digest: '' } }));
    expect(recent.recall('c1')?.image.id).toBe('sha256:aa');
    recent.refresh('c2', info('c2', { name: 'from-event' }));
    expect(recent.recall('c2')?.name).toBe('from-event');
  });

  it('never remembers a pod sandbox', () => {
    const recent = new RecentContainers();
    recent.remember(info('pause', { sandbox: true }));
    expect(recent.recall('pause')).toBeUndefined();
  });
});
