import { BoundedMap } from '../../src/pipeline/bounded-map';

/** A clock the test moves. */
function manualClock(start = 1_000) {
  const clock = { t: start, now: () => clock.t };
  return clock;
}

describe('BoundedMap', () => {
  test('keeps at most `max` keys: the oldest set goes first, counted and told to onEvict', () => {
    const evicted: [string, number][] = [];
    const map = new BoundedMap<string, number>({ max: 2, onEvict: (k, v) => evicted.push([k, v]) });
    map.set('a', 1);
    map.set('b', 2);
    expect(map.evictions).toBe(0);
    map.set('c', 3);
    expect(map.size).toBe(2);
    expect(map.evictions).toBe(1);
    expect(evicted).toEqual([['a', 1]]);
    expect([map.has('a'), map.get('b'), map.get('c')]).toEqual([false, 2, 3]);
  });

  test('setting a key again makes it the newest and costs no eviction; reading does not', () => {
    const map = new BoundedMap<string, number>({ max: 2 });
    map.set('a', 1);
    map.set('b', 2);
    map.set('a', 3);
    expect(map.evictions).toBe(0);
    expect(map.get('b')).toBe(2);
    map.set('c', 4);
    expect([map.get('a'), map.get('b'), map.get('c')]).toEqual([3, undefined, 4]);
    expect(map.evictions).toBe(1);
  });

  test('an entry expires ttlMs after it was set, by the injected clock', () => {
    const clock = manualClock();
    const map = new BoundedMap<string, string>({ max: 4, ttlMs: 100, now: clock.now });
    map.set('a', 'A');
    clock.t += 99;
    expect(map.get('a')).toBe('A');
    map.set('b', 'B');
    clock.t += 1;
    expect(map.has('a')).toBe(false);
    expect(map.get('a')).toBeUndefined();
    expect(map.get('b')).toBe('B');
    // Setting again starts its time over.
    clock.t += 50;
    map.set('b', 'B2');
    clock.t += 99;
    expect(map.get('b')).toBe('B2');
  });

  test('expired entries make room before the bound has to, uncounted', () => {
    const clock = manualClock();
    const evicted: string[] = [];
    const map = new BoundedMap<string, number>({ max: 2, ttlMs: 30, now: clock.now, onEvict: (k) => evicted.push(k) });
    map.set('a', 1);
    map.set('b', 2);
    clock.t += 30;
    map.set('c', 3);
    map.set('d', 4);
    expect(map.evictions).toBe(0);
    expect(map.size).toBe(2);
    map.set('e', 5);
    expect(map.evictions).toBe(1);
    expect(evicted).toEqual(['c']);
    expect([map.get('c'), map.get('d'), map.get('e')]).toEqual([undefined, 4, 5]);
  });

  test('delete, deleteIf (only while the key still holds the value) and clear are no evictions', () => {
    const map = new BoundedMap<string, object>({ max: 3 });
    const first = {};
    const second = {};
    map.set('a', first);
    map.set('a', second);
    map.deleteIf('a', first);
    expect(map.get('a')).toBe(second);
    map.deleteIf('a', second);
    expect(map.has('a')).toBe(false);
    map.set('b', first);
    expect(map.delete('b')).toBe(true);
    expect(map.delete('b')).toBe(false);
    map.set('c', first);
    map.clear();
    expect(map.size).toBe(0);
    expect(map.evictions).toBe(0);
  });

  test('a bound below 1 is refused', () => {
    expect(() => new BoundedMap({ max: 0 })).toThrow(RangeError);
  });
});
