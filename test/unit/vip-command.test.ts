/**
 * CommandVipProvider over tiny bash scripts: the VIP's holder lives in a temp
 * file, and a counter file tells whether the move script ran at all.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ApplicationFailure } from '@temporalio/common';
import { CommandVipProvider } from '../../activities/vip-command.js';

let dir: string;
const file = (name: string) => join(dir, name);

const h1 = { host: '198.51.100.1', port: 3306 };
const h2 = { host: '198.51.100.2', port: 3306 };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dm-switch-vip-command-'));
  // locate: the holder from the state file; what it was called with, for the assertions
  await writeFile(
    file('locate.sh'),
    `set -eu
printf '%s\\n' "$@" > "$STATE_DIR/locate-argv"
[ "$1" = -- ] && shift
printf '%s|%s|%s\\n' "$1" "$DM_SWITCH_VIP" "$DM_SWITCH_VIP_CANDIDATES" > "$STATE_DIR/locate-args"
[ -f "$STATE_DIR/fail-locate" ] && { echo "cannot reach the VIP API" >&2; exit 3; }
cat "$STATE_DIR/holder" 2>/dev/null || true
echo
`,
  );
  // move: counts its runs; MOVE_MODE=ok|fail|noop
  await writeFile(
    file('move.sh'),
    `set -eu
printf '%s\\n' "$@" > "$STATE_DIR/move-argv"
[ "$1" = -- ] && shift
n=$(cat "$STATE_DIR/move-count" 2>/dev/null || echo 0)
echo $((n + 1)) > "$STATE_DIR/move-count"
printf '%s|%s|%s|%s|%s|%s\\n' "$1" "$2" "$3" "$DM_SWITCH_VIP" "$DM_SWITCH_VIP_FROM" "$DM_SWITCH_VIP_TO" > "$STATE_DIR/move-args"
case "$MOVE_MODE" in
  ok) printf '%s' "$3" > "$STATE_DIR/holder" ;;
  fail) echo "RTNETLINK answers: Operation not permitted" >&2; exit 1 ;;
  noop) ;;
  ip) getent ahostsv4 "$3" | awk 'NR == 1 { printf "%s", $1 }' > "$STATE_DIR/holder" ;;
esac
`,
  );
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});
beforeEach(async () => {
  for (const f of ['holder', 'move-count', 'move-args', 'locate-args', 'fail-locate', 'move-argv', 'locate-argv'])
    await rm(file(f), { force: true });
});

const provider = (moveMode: 'ok' | 'fail' | 'noop' | 'ip', timeoutMs?: number) =>
  new CommandVipProvider({
    name: 'test-vip',
    locate: ['bash', file('locate.sh')],
    move: ['bash', file('move.sh')],
    env: { STATE_DIR: dir, MOVE_MODE: moveMode },
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
  });
/** The error a promise rejects with (fails the test if it resolves). */
const failure = async (p: Promise<unknown>): Promise<Error> => {
  try {
    await p;
  } catch (e) {
    if (e instanceof Error) return e;
    throw new Error(`rejected with a non-Error: ${String(e)}`);
  }
  throw new Error('expected a rejection, but the promise resolved');
};
const moveCount = async () => Number((await readFile(file('move-count'), 'utf8').catch(() => '0')).trim());

describe('CommandVipProvider', () => {
  it('given the locate command prints a host (with whitespace around it), should return that host and pass the VIP and the candidates', async () => {
    await writeFile(file('holder'), '  198.51.100.1 \n');
    expect(await provider('ok').locate('198.51.100.100', [h1, h2])).toBe('198.51.100.1');
    expect((await readFile(file('locate-args'), 'utf8')).trim()).toBe(
      '198.51.100.100|198.51.100.100|198.51.100.1:3306 198.51.100.2:3306',
    );
  });

  it('given the locate command prints nothing, should say nobody holds the VIP', async () => {
    expect(await provider('ok').locate('198.51.100.100', [h1])).toBeNull();
  });

  it('given the locate command prints more than one word, should refuse to guess', async () => {
    await writeFile(file('holder'), '198.51.100.1\n198.51.100.2\n');
    await expect(provider('ok').locate('198.51.100.100', [h1, h2])).rejects.toThrow(/more than one word/);
  });

  it('given the locate command fails, should name the command, the exit code and stderr', async () => {
    await writeFile(file('fail-locate'), '');
    const err = await failure(provider('ok').locate('198.51.100.100', [h1]));
    expect(err.message).toContain('locate.sh');
    expect(err.message).toContain('exited with code 3');
    expect(err.message).toContain('cannot reach the VIP API');
  });

  it('given the VIP is on the old host, should run move with the contract arguments and return the new holder', async () => {
    await writeFile(file('holder'), '198.51.100.1');
    expect(await provider('ok').move('198.51.100.100', h1, h2)).toEqual({
      alreadyThere: false,
      holder: '198.51.100.2',
    });
    expect(await moveCount()).toBe(1);
    expect((await readFile(file('move-args'), 'utf8')).trim()).toBe(
      '198.51.100.100|198.51.100.1|198.51.100.2|198.51.100.100|198.51.100.1:3306|198.51.100.2:3306',
    );
  });

  it('given no old host, should pass an empty from argument and an empty DM_SWITCH_VIP_FROM', async () => {
    expect(await provider('ok').move('198.51.100.100', null, h1)).toEqual({
      alreadyThere: false,
      holder: '198.51.100.1',
    });
    expect((await readFile(file('move-args'), 'utf8')).trim()).toBe(
      '198.51.100.100||198.51.100.1|198.51.100.100||198.51.100.1:3306',
    );
  });

  it('given the VIP is already on the new host, should report alreadyThere without running the move command', async () => {
    await writeFile(file('holder'), '198.51.100.2');
    expect(await provider('ok').move('198.51.100.100', h1, h2)).toEqual({ alreadyThere: true, holder: '198.51.100.2' });
    expect(await moveCount()).toBe(0);
  });

  it('given the move command exits 1, should surface its stderr and exit code', async () => {
    await writeFile(file('holder'), '198.51.100.1');
    const err = await failure(provider('fail').move('198.51.100.100', h1, h2));
    expect(err.message).toContain('move.sh');
    expect(err.message).toContain('exited with code 1');
    expect(err.message).toContain('RTNETLINK answers: Operation not permitted');
    expect(await moveCount()).toBe(1);
  });

  it('given the move command exits 0 but the VIP stays elsewhere, should be an error saying where it points', async () => {
    await writeFile(file('holder'), '198.51.100.1');
    await expect(provider('noop').move('198.51.100.100', h1, h2)).rejects.toThrow(
      /exited 0, but VIP 198\.51\.100\.100 now points at 198\.51\.100\.1, not at 198\.51\.100\.2/,
    );
    expect(await moveCount()).toBe(1);
  });

  it('given a locate command that prints the address of a target given by name, should move once and then know the VIP is there', async () => {
    await writeFile(file('holder'), '198.51.100.1');
    const to = { host: 'localhost', port: 3306 };
    expect(await provider('ip').move('198.51.100.100', h1, to)).toEqual({ alreadyThere: false, holder: 'localhost' });
    expect((await readFile(file('holder'), 'utf8')).trim()).toBe('127.0.0.1');
    // the retried move (its answer lost) finds it there: no second move
    expect(await provider('ip').move('198.51.100.100', h1, to)).toEqual({ alreadyThere: true, holder: 'localhost' });
    expect(await moveCount()).toBe(1);
  });

  it('given a failing command, should raise a retryable VipProviderError for the activity to retry', async () => {
    await writeFile(file('holder'), '198.51.100.1');
    const err = await failure(provider('fail').move('198.51.100.100', h1, h2));
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect({ type: (err as ApplicationFailure).type, nonRetryable: (err as ApplicationFailure).nonRetryable }).toEqual({
      type: 'VipProviderError',
      nonRetryable: false,
    });
  });

  it('given a command that hangs, should stop it at the timeout and say so', async () => {
    const p = new CommandVipProvider({
      name: 'slow',
      locate: ['bash', '-c', 'sleep 20', 'locate'],
      move: ['true'],
      timeoutMs: 300,
    });
    const t0 = Date.now();
    await expect(p.locate('198.51.100.100', [])).rejects.toThrow(/timed out after 300 ms/);
    expect(Date.now() - t0).toBeLessThan(5_000);
  });

  it('given a program that does not exist, should say it could not run', async () => {
    const p = new CommandVipProvider({ name: 'missing', locate: [join(dir, 'no-such-program')], move: ['true'] });
    await expect(p.locate('198.51.100.100', [])).rejects.toThrow(/could not run/);
  });

  it('given a check command, should say whether the VIP could go to a host (exit 0 / exit 1 with the reason) and fail on anything else', async () => {
    const check = (script: string) =>
      new CommandVipProvider({
        name: 'checked',
        locate: ['true'],
        move: ['true'],
        check: ['bash', '-c', script, 'check'],
        env: { STATE_DIR: dir },
      });
    const args =
      '[ "$1" = -- ] && shift; printf "%s|%s|%s|%s" "$1" "$2" "$DM_SWITCH_VIP" "$DM_SWITCH_VIP_TO" > "$STATE_DIR/check-args"';
    expect(await check(`${args}; exit 0`).canHold!('198.51.100.100', h2)).toBeNull();
    expect(await readFile(file('check-args'), 'utf8')).toBe(
      '198.51.100.100|198.51.100.2|198.51.100.100|198.51.100.2:3306',
    );
    expect(await check('echo "198.51.100.2 is in another VLAN" >&2; exit 1').canHold!('198.51.100.100', h2)).toBe(
      'VIP provider "checked" cannot move 198.51.100.100 to 198.51.100.2: 198.51.100.2 is in another VLAN',
    );
    await expect(check('echo boom >&2; exit 2').canHold!('198.51.100.100', h2)).rejects.toThrow(
      /check command .* exited with code 2: boom/,
    );
    // without a check command the provider cannot tell before it moves
    expect(provider('ok').canHold).toBeUndefined();
  });

  it('given values from a request or a server, should pass them after "--", and refuse one that looks like an option without running anything', async () => {
    await writeFile(file('holder'), '198.51.100.1');
    expect(await provider('ok').move('198.51.100.100', h1, h2)).toEqual({
      alreadyThere: false,
      holder: '198.51.100.2',
    });
    expect((await readFile(file('move-argv'), 'utf8')).split('\n').slice(0, -1)).toEqual([
      '--',
      '198.51.100.100',
      '198.51.100.1',
      '198.51.100.2',
    ]);
    expect((await readFile(file('locate-argv'), 'utf8')).split('\n').slice(0, -1)).toEqual(['--', '198.51.100.100']);
    const runs = await moveCount();
    const bad = await failure(
      provider('ok').move('198.51.100.100', h2, { host: '-oProxyCommand=touch /tmp/x', port: 3306 }),
    );
    expect(bad.message).toMatch(
      /refused to run a VIP provider command with host "-oProxyCommand=touch \/tmp\/x" starts with "-"/,
    );
    expect(bad).toBeInstanceOf(ApplicationFailure);
    expect((bad as ApplicationFailure).nonRetryable).toBe(true);
    expect(await moveCount()).toBe(runs);
    await expect(provider('ok').locate('--all', [])).rejects.toThrow(
      /refused to run a VIP provider command with VIP "--all"/,
    );
    // a holder the locate command prints is data too
    await writeFile(file('holder'), '-x');
    await expect(provider('ok').locate('198.51.100.100', [])).rejects.toThrow(/printed "-x" starts with "-"/);
  });
});
