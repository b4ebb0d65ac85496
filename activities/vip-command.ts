/**
 * A VIP provider made of two commands the operator configures: one that says
 * who holds the VIP, one that moves it. Commands are argument arrays run
 * through execa without a shell, each with a timeout.
 *
 *   locate: <locate argv…> <vip>
 *     env DM_SWITCH_VIP=<vip>
 *         DM_SWITCH_VIP_CANDIDATES="<host:port> <host:port> …"
 *     stdout: the holder's host (one word), or nothing when nobody holds it.
 *
 *   move:   <move argv…> <vip> <from host or ''> <to host>
 *     env DM_SWITCH_VIP=<vip>
 *         DM_SWITCH_VIP_FROM=<host:port or ''>
 *         DM_SWITCH_VIP_TO=<host:port>
 *
 * `move` keeps the VipProvider contract on its own: it locates first and does
 * nothing when the VIP is already on `to`, and it locates again afterwards,
 * so a move command that exits 0 without moving the VIP is an error.
 */
import { ApplicationFailure } from '@temporalio/common';
import { execa } from 'execa';
import { childEnv } from './child-env.js';
import { matchHost } from './net.js';
import type { VipMoveResult, VipProvider, VipTarget } from './vip.js';

/**
 * A provider command that failed (exit code, timeout, output it must not
 * print): retried by the activity's policy; after the last attempt the
 * workflow reports VipMoveFailed (or, during an undo, needs-operator).
 */
export const VIP_PROVIDER_ERROR = 'VipProviderError';
const providerError = (message: string) => ApplicationFailure.retryable(message, VIP_PROVIDER_ERROR);

export interface CommandVipProviderConfig {
  /** The provider's name in the worker's configuration (and in error messages). */
  name: string;
  /** argv of the locate command; the VIP is appended. */
  locate: string[];
  /** argv of the move command; the VIP, the old host ('' if none) and the new host are appended. */
  move: string[];
  /** Per command; default 30 s. */
  timeoutMs?: number;
  /** Environment for both commands, on top of PATH, the locale, HOME and the user (nothing else of the worker's: activities/child-env.ts). */
  env?: Record<string, string>;
  /** Names of the worker's environment variables to pass on as they are (e.g. a cloud CLI's profile). */
  passEnv?: string[];
}

const DEFAULT_TIMEOUT_MS = 30_000;

const hostPort = (t: VipTarget): string => `${t.host}:${t.port}`;

export class CommandVipProvider implements VipProvider {
  readonly name: string;
  private readonly config: CommandVipProviderConfig;

  constructor(config: CommandVipProviderConfig) {
    if (config.locate.length === 0) throw new Error(`VIP provider "${config.name}": the locate command is empty`);
    if (config.move.length === 0) throw new Error(`VIP provider "${config.name}": the move command is empty`);
    this.name = config.name;
    this.config = { ...config, locate: [...config.locate], move: [...config.move], env: { ...config.env }, passEnv: [...(config.passEnv ?? [])] };
  }

  async locate(vip: string, candidates: VipTarget[]): Promise<string | null> {
    const stdout = await this.run('locate', [...this.config.locate, vip], {
      DM_SWITCH_VIP: vip,
      DM_SWITCH_VIP_CANDIDATES: candidates.map(hostPort).join(' '),
    });
    const holder = stdout.trim();
    if (holder === '') return null;
    if (/\s/.test(holder)) {
      throw providerError(`VIP provider "${this.name}": locate command ${describe([...this.config.locate, vip])} printed more than one word (${JSON.stringify(holder)}); it must print the holder's host or nothing`);
    }
    return holder;
  }

  async move(vip: string, from: VipTarget | null, to: VipTarget): Promise<VipMoveResult> {
    const candidates = from ? [from, to] : [to];
    // a holder printed as an address, a target given by name (or the reverse) is the same host: never a second move
    const isTo = async (holder: string | null) => holder !== null && (await matchHost(holder, [to.host])) !== null;
    const before = await this.locate(vip, candidates);
    if (await isTo(before)) return { alreadyThere: true, holder: to.host };
    await this.run('move', [...this.config.move, vip, from?.host ?? '', to.host], {
      DM_SWITCH_VIP: vip,
      DM_SWITCH_VIP_FROM: from ? hostPort(from) : '',
      DM_SWITCH_VIP_TO: hostPort(to),
    });
    const after = await this.locate(vip, candidates);
    if (!(await isTo(after))) {
      throw providerError(
        `VIP provider "${this.name}": the move command ${describe([...this.config.move, vip, from?.host ?? '', to.host])} exited 0, ` +
          `but VIP ${vip} now points at ${after ?? 'nobody'}, not at ${to.host} (it pointed at ${before ?? 'nobody'} before)`,
      );
    }
    return { alreadyThere: false, holder: to.host };
  }

  /** Runs one command; its stdout, or an Error naming the command, the exit code and stderr. */
  private async run(what: 'locate' | 'move', argv: string[], env: Record<string, string>): Promise<string> {
    const timeout = this.config.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const [file, ...args] = argv as [string, ...string[]];
    const r = await execa(file, args, {
      shell: false,
      reject: false,
      timeout,
      stdin: 'ignore',
      extendEnv: false,
      env: childEnv({ ...this.config.env, ...env }, this.config.passEnv),
      stripFinalNewline: true,
    });
    const cmd = describe(argv);
    const stderr = r.stderr.trim();
    if (r.timedOut) throw providerError(`VIP provider "${this.name}": ${what} command ${cmd} timed out after ${timeout} ms${stderr ? `; stderr: ${stderr}` : ''}`);
    if (r.exitCode === undefined) {
      // never ran, or killed by a signal
      const why = r.signal ? `was killed by ${r.signal}` : `could not run (${r.cause instanceof Error ? r.cause.message : r.shortMessage})`;
      throw providerError(`VIP provider "${this.name}": ${what} command ${cmd} ${why}${stderr ? `; stderr: ${stderr}` : ''}`);
    }
    if (r.exitCode !== 0) {
      throw providerError(`VIP provider "${this.name}": ${what} command ${cmd} exited with code ${r.exitCode}: ${stderr || '(no stderr)'}`);
    }
    return r.stdout;
  }
}

/** An argv as a reader would type it. */
function describe(argv: string[]): string {
  return '`' + argv.map((a) => (a === '' ? "''" : /^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ') + '`';
}
