/**
 * Time in tests that wait for the agent's own timers (resyncs, deadlines, backoff): a test that
 * runs on jest's fake clock (`jest.useFakeTimers()`) makes it pass at once, every timer due firing
 * in order; any other test waits for real.
 */

/** Whether jest's fake timers (@sinonjs/fake-timers, which marks what it installs) replace the global ones now. */
export function fakeTimersOn(): boolean {
  return 'clock' in setTimeout;
}

/** Lets `ms` pass: on the fake clock when one is installed, else for real. */
export async function pass(ms: number): Promise<void> {
  if (fakeTimersOn()) await jest.advanceTimersByTimeAsync(ms);
  else await new Promise((resolve) => setTimeout(resolve, ms));
}
