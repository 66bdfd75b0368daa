/**
 * The one skip gate (test/harness/requires.ts), run on a fixture by a jest of its own: absent
 * requirements skip loudly, and under CI=true the ones CI must have fail instead.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { NODE, REPO_ROOT } from '../harness/paths';

interface JestReport {
  numPassedTests: number;
  numPendingTests: number;
  numFailedTests: number;
  testResults: Array<{ assertionResults: Array<{ title: string; status: string; failureMessages: string[] }> }>;
}

function runFixture(ci: string | undefined): { report: JestReport; stderr: string } {
  const env = { ...process.env };
  delete env.CI;
  if (ci !== undefined) env.CI = ci;
  const r = spawnSync(
    NODE,
    [path.join(REPO_ROOT, 'node_modules/jest/bin/jest.js'), '--json', '--testMatch', '**/test/testdata/requires.fixture.ts'],
    { cwd: REPO_ROOT, env, encoding: 'utf8', timeout: 60_000 },
  );
  return { report: JSON.parse(r.stdout) as JestReport, stderr: r.stderr };
}

const outcomes = (report: JestReport) =>
  Object.fromEntries(report.testResults.flatMap((f) => f.assertionResults.map((a) => [a.title, a.status])));

describe('requires()', () => {
  test('off CI: what is absent is skipped, saying what is missing and how to get it; what is here runs', () => {
    const { report, stderr } = runFixture(undefined);
    expect(outcomes(report)).toEqual({
      'never runs': 'pending',
      'needs an optional file': 'pending',
      'needs a program that is here': 'passed',
    });
    expect(stderr).toContain(
      'SKIPPED needs a program nowhere on PATH: eco-no-such-program is not installed (scripts/setup.sh --test installs eco-no-such-program)',
    );
    expect(stderr).toContain('SKIPPED needs an optional file: /nonexistent/eco-optional.proto is missing (optional even on CI)');
  });

  test('under CI=true: a requirement CI must have fails instead of skipping; an optional one still skips', () => {
    const { report } = runFixture('true');
    expect(outcomes(report)).toEqual({
      'needs a program nowhere on PATH: what it needs is here': 'failed',
      'needs an optional file': 'pending',
      'needs a program that is here': 'passed',
    });
    const failed = report.testResults[0].assertionResults.find((a) => a.status === 'failed')!;
    expect(failed.failureMessages.join('\n')).toContain(
      'CI=true, and needs a program nowhere on PATH cannot run: eco-no-such-program is not installed',
    );
  });
});
