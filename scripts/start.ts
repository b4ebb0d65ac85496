/**
 * `npm start`: the whole local stack on local defaults, in the foreground.
 *
 *   - Temporal dev server on 127.0.0.1:7233, Web UI on http://127.0.0.1:8233,
 *     history kept in ~/.local/state/dm-switch/temporal.sqlite across restarts;
 *   - the demo sandbox (unless --no-sandbox): a MySQL 9.7 primary and two
 *     replicas, a downstream MySQL, and a DM cluster whose GTID source
 *     `mysql-replica-01` replicates schema `app` downstream through a task.
 *
 * Ctrl-C (or SIGTERM) stops everything it started; nothing is left running.
 */
import { mkdir } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startStack, type Stack } from '../test/sandbox/stack.js';

const { values } = parseArgs({
  options: {
    sandbox: { type: 'boolean', default: true },
    'no-sandbox': { type: 'boolean', default: false },
    port: { type: 'string', default: '7233' },
    'ui-port': { type: 'string', default: '8233' },
    state: { type: 'string', default: process.env.DM_SWITCH_STATE ?? join(homedir(), '.local/state/dm-switch') },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  console.log(`usage: npm start [-- --no-sandbox] [--port 7233] [--ui-port 8233] [--state DIR]

Starts a Temporal dev server (history kept in DIR/temporal.sqlite) and, unless
--no-sandbox, the demo sandbox: MySQL primary + 2 replicas, a downstream and a
DM cluster with source mysql-replica-01 and a running task. Ctrl-C stops all.`);
  process.exit(0);
}
const withSandbox = values.sandbox && !values['no-sandbox'];
await mkdir(values.state, { recursive: true });
const log = (line: string) => console.log(`[dm-switch] ${line}`);

let stack: Stack | undefined;
let stopping = false;
async function shutdown(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    log('stopping everything…');
    await stack?.stop();
    log('stopped');
  }
  process.exit(code);
}
process.on('SIGINT', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));

try {
  const t0 = Date.now();
  stack = await startStack({
    temporal: { ui: true, port: Number(values.port), uiPort: Number(values['ui-port']), dbFile: join(values.state, 'temporal.sqlite'), logFile: join(values.state, 'temporal.log') },
    mysql: withSandbox ? { replicas: 2 } : false,
    dm: withSandbox,
    log,
  });
  log(`ready in ${((Date.now() - t0) / 1000).toFixed(1)} s — Temporal Web UI: ${stack.temporal?.uiUrl}`);
  log('press Ctrl-C to stop');
} catch (e) {
  console.error(`[dm-switch] could not start: ${e instanceof Error ? e.message : String(e)}`);
  await shutdown(1);
}
