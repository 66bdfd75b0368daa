import { SharedLookups } from '../../src/processors/container-enrichment/runtime/common';

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
