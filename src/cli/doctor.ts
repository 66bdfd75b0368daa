import type { CheckResult } from '../doctor/checks';
import { formatTable } from './table';

/** `doctor`'s report: one line per check, the fix of a warn or fail indented under it. */
export function formatChecks(results: CheckResult[]): string {
  const rows = results.flatMap((r) => [[r.status, `${r.check}: ${r.detail}`], ...(r.fix ? [['', `fix: ${r.fix}`]] : [])]);
  // Statuses take the widest one's room, whichever are shown, so checks line up from run to run.
  return formatTable(rows, { gap: '  ', minWidths: ['fail'.length] });
}
