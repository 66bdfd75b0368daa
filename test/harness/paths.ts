import * as path from 'node:path';

/*
 * Where the agent's CLI is, for tests that run it as a user does. No side effects here (unlike
 * procs.ts, which installs exit hooks), so unit tests can import it.
 */
export const REPO_ROOT = path.join(__dirname, '..', '..');
/** Node 24 from the `node` devDependency, as the npm scripts run the agent (the system's node may be older). */
export const NODE = path.join(REPO_ROOT, 'node_modules/.bin/node');
/** The real CLI over the compiled dist/ (built by scripts/setup.sh). */
export const CLI = path.join(REPO_ROOT, 'bin/ebpf-container-otel.js');
