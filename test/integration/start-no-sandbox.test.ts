/**
 * `npm start -- --no-sandbox` as a newcomer runs it: the real script, a real
 * dev server on free loopback ports. Without DM_SWITCH_CONFIG it says loudly
 * that no worker runs and how to give one; with a path that does not exist
 * it stops before starting a worker, naming the path.
 */
import { execa } from 'execa';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../sandbox/ports.js';

const script = join(import.meta.dirname, '../../scripts/start.ts');
let state: string;
beforeAll(async () => {
  state = await mkdtemp(join(tmpdir(), 'dm-switch-start-'));
});
afterAll(() => rm(state, { recursive: true, force: true }));

async function start(env: Record<string, string>) {
  const args = [
    '--import',
    'tsx',
    script,
    '--no-sandbox',
    '--state',
    state,
    '--port',
    String(await freePort()),
    '--ui-port',
    String(await freePort()),
  ];
  const { DM_SWITCH_CONFIG: _ignored, ...inherited } = process.env;
  const proc = execa(process.execPath, args, {
    env: { ...inherited, ...env },
    extendEnv: false,
    reject: false,
    all: true,
    stdin: 'ignore',
    timeout: 120_000,
  });
  let out = '';
  let stopped = false;
  proc.all?.on('data', (b: Buffer) => {
    out += b.toString();
    if (!stopped && /press Ctrl-C to stop/.test(out)) stopped = proc.kill('SIGINT'); // once: a second Ctrl-C exits at once
  });
  const r = await proc;
  return { exitCode: r.exitCode, out: r.all ?? out };
}

describe('npm start -- --no-sandbox', () => {
  it('given no DM_SWITCH_CONFIG, should say no worker runs and how to give one, and how to start a switch', async () => {
    const r = await start({});
    expect(r.out).toMatch(/NO WORKER: without the sandbox the worker needs your DM clusters and credentials/);
    expect(r.out).toMatch(/DM_SWITCH_CONFIG=\/path\/to\/worker\.yaml npm start -- --no-sandbox/);
    expect(r.out).toMatch(/temporal --address 127\.0\.0\.1:\d+ workflow start --task-queue dm-switch --type vipSwitch/);
    expect(r.out).toMatch(/\[dm-switch\] stopped$/m);
    expect(r.exitCode).toBe(0);
  });

  it('given DM_SWITCH_CONFIG naming a file that does not exist, should stop saying so', async () => {
    const r = await start({ DM_SWITCH_CONFIG: join(state, 'nope.yaml') });
    expect(r.out).toMatch(
      /could not start: DM_SWITCH_CONFIG is .*nope\.yaml, which does not exist; give the path of your worker configuration/,
    );
    expect(r.exitCode).toBe(1);
  });
});
