/**
 * A VIP provider made of two commands the operator configures: one that says
 * who holds the VIP, one that moves it. Commands are argument arrays run
 * through execa without a shell, each with a timeout.
 *
 * Every value the commands get from a request or a server (the VIP, hosts)
 * comes after `--` and is first checked to be an address or a host name
 * (common/switch/hosts.ts): nothing a command could read as an option.
 *
 *   locate: <locate argv…> -- <vip>
 *     env DM_SWITCH_VIP=<vip>
 *         DM_SWITCH_VIP_CANDIDATES="<host:port> <host:port> …"
 *     stdout: the holder's host (one word), or nothing when nobody holds it.
 *
 *   move:   <move argv…> -- <vip> <from host or ''> <to host>
 *     env DM_SWITCH_VIP=<vip>
 *         DM_SWITCH_VIP_FROM=<host:port or ''>
 *         DM_SWITCH_VIP_TO=<host:port>
 *
 *   check (optional): <check argv…> -- <vip> <to host>
 *     env DM_SWITCH_VIP=<vip>
 *         DM_SWITCH_VIP_TO=<host:port>
 *     exit 0 when the VIP could be moved to that host, 1 (with the reason
 *     on stderr) when it could not; moves nothing. Used when a switch
 *     chooses its target among candidates.
 *
 * `move` keeps the VipProvider contract on its own: it locates first and does
 * nothing when the VIP is already on `to`, and it locates again afterwards,
 * so a move command that exits 0 without moving the VIP is an error.
 */
import { ApplicationFailure } from '@temporalio/common';
import { execa } from 'execa';
import { hostSyntaxProblem } from '../common/switch/hosts.js';
import { failure, SwitchErrorType } from '../common/switch/errors.js';
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
  /** Optional argv of the check command; the VIP and the host are appended. */
  check?: string[];
  /** Per command; default 30 s. */
  timeoutMs?: number;
  /**
   * Environment for both commands, on top of PATH, the locale, HOME and the user (nothing else of the worker's:
   * activities/child-env.ts).
   */
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
    if (config.check?.length === 0)
      throw new Error(`VIP provider "${config.name}": the check command is empty (leave it out instead)`);
    this.config = {
      ...config,
      locate: [...config.locate],
      move: [...config.move],
      ...(config.check ? { check: [...config.check] } : {}),
      env: { ...config.env },
      passEnv: [...(config.passEnv ?? [])],
    };
    // only a provider with a check command can tell before it moves (VipProvider.canHold is optional)
    if (config.check) this.canHold = (vip, to) => this.check(vip, to);
  }

  readonly canHold?: (vip: string, to: VipTarget) => Promise<string | null>;

  private async check(vip: string, to: VipTarget): Promise<string | null> {
    const argv = [...this.config.check!, '--', word('VIP', vip), word('host', to.host)];
    const r = await this.exec(argv, { DM_SWITCH_VIP: vip, DM_SWITCH_VIP_TO: hostPort(to) });
    if (r.exitCode === 1)
      return (
        `VIP provider "${this.name}" cannot move ${vip} to ${to.host}: ` +
        `${r.stderr.trim() || 'its check command said no (exit 1)'}`
      );
    this.fail('check', argv, r);
    return null;
  }

  async locate(vip: string, candidates: VipTarget[]): Promise<string | null> {
    const stdout = await this.run('locate', [...this.config.locate, '--', word('VIP', vip)], {
      DM_SWITCH_VIP: vip,
      DM_SWITCH_VIP_CANDIDATES: candidates.map(hostPort).join(' '),
    });
    const holder = stdout.trim();
    if (holder === '') return null;
    if (/\s/.test(holder)) {
      throw providerError(
        `VIP provider "${this.name}": locate command ` +
          `${describe([...this.config.locate, '--', vip])} printed more than one word ` +
          `(${JSON.stringify(holder)}); it must print the holder's host or nothing`,
      );
    }
    const problem = hostSyntaxProblem(holder);
    if (problem)
      throw providerError(
        `VIP provider "${this.name}": locate command ` +
          `${describe([...this.config.locate, '--', vip])} printed ${problem}; it must ` +
          `print the holder's host or nothing`,
      );
    return holder;
  }

  async move(vip: string, from: VipTarget | null, to: VipTarget): Promise<VipMoveResult> {
    const candidates = from ? [from, to] : [to];
    // a holder printed as an address, a target given by name (or the reverse) is the same host: never a second move
    const isTo = async (holder: string | null) => holder !== null && (await matchHost(holder, [to.host])) !== null;
    const before = await this.locate(vip, candidates);
    if (await isTo(before)) return { alreadyThere: true, holder: to.host };
    const argv = [
      ...this.config.move,
      '--',
      word('VIP', vip),
      from ? word('host', from.host) : '',
      word('host', to.host),
    ];
    await this.run('move', argv, {
      DM_SWITCH_VIP: vip,
      DM_SWITCH_VIP_FROM: from ? hostPort(from) : '',
      DM_SWITCH_VIP_TO: hostPort(to),
    });
    const after = await this.locate(vip, candidates);
    if (!(await isTo(after))) {
      throw providerError(
        `VIP provider "${this.name}": the move command ${describe(argv)} exited 0, ` +
          (`but VIP ${vip} now points at ${after ?? 'nobody'}, not at ${to.host} (it ` +
            `pointed at ${before ?? 'nobody'} before)`),
      );
    }
    return { alreadyThere: false, holder: to.host };
  }

  /** Runs one command; its stdout, or an Error naming the command, the exit code and stderr. */
  private async run(what: 'locate' | 'move', argv: string[], env: Record<string, string>): Promise<string> {
    const r = await this.exec(argv, env);
    this.fail(what, argv, r);
    return r.stdout;
  }

  private exec(argv: string[], env: Record<string, string>) {
    const [file, ...args] = argv as [string, ...string[]];
    return execa(file, args, {
      shell: false,
      reject: false,
      timeout: this.config.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      stdin: 'ignore',
      extendEnv: false,
      env: childEnv({ ...this.config.env, ...env }, this.config.passEnv),
      stripFinalNewline: true,
    });
  }

  /** Throws a provider error naming the command unless it exited 0. */
  private fail(
    what: 'locate' | 'move' | 'check',
    argv: string[],
    r: Awaited<ReturnType<CommandVipProvider['exec']>>,
  ): void {
    const timeout = this.config.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const cmd = describe(argv);
    const stderr = r.stderr.trim();
    if (r.timedOut)
      throw providerError(
        `VIP provider "${this.name}": ${what} command ${cmd} timed out after ${timeout} ` +
          `ms${stderr ? `; stderr: ${stderr}` : ''}`,
      );
    if (r.exitCode === undefined) {
      // never ran, or killed by a signal
      const why = r.signal
        ? `was killed by ${r.signal}`
        : `could not run (${r.cause instanceof Error ? r.cause.message : r.shortMessage})`;
      throw providerError(
        `VIP provider "${this.name}": ${what} command ${cmd} ${why}${stderr ? `; stderr: ${stderr}` : ''}`,
      );
    }
    if (r.exitCode !== 0) {
      throw providerError(
        `VIP provider "${this.name}": ${what} command ${cmd} exited with code ` +
          `${r.exitCode}: ${stderr || '(no stderr)'}`,
      );
    }
  }
}

/** `value` as an argument of a provider command: an address or a host name, never an option. */
function word(what: string, value: string): string {
  const problem = hostSyntaxProblem(value);
  if (problem) {
    throw failure(`refused to run a VIP provider command with ${what} ${problem}`, SwitchErrorType.InvalidInput);
  }
  return value;
}

/** An argv as a reader would type it. */
function describe(argv: string[]): string {
  return (
    '`' +
    argv.map((a) => (a === '' ? "''" : /^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ') +
    '`'
  );
}
