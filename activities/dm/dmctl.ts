/**
 * DM through dmctl: argument arrays through execa, never a shell;
 * `--master-addr` from the worker's configuration. dmctl exits 0 when an
 * operation fails, so every answer is checked at the top level, per source
 * and per task (parse.ts), and its failures are sorted here: what DM
 * documents as transient is retried, everything else fails the operation.
 */
import { ApplicationFailure } from '@temporalio/common';
import { execa } from 'execa';
import { failure, SwitchErrorType } from '../../common/switch/errors.js';
import { childEnv } from '../child-env.js';
import { ATTR, inSpan } from '../tracing.js';
import { dmctlFailures, parseDmctlOutput, type DmctlJson } from './parse.js';

export interface DmClusterConfig {
  /** dm-master address(es), comma-separated, as dmctl's --master-addr takes them. */
  masterAddr: string;
  /** Path of the dmctl binary. */
  dmctl: string;
  /** Timeout of one dmctl call (default 60 s). */
  commandTimeoutMs?: number;
  /**
   * The checkpoint-flush-interval of this cluster's tasks (DM's default 30 s): query-status shows a task's position as
   * of its last flush. The check after an undo waits 3 times this (at least) for a task that runs to show a new one.
   */
  checkpointFlushSeconds?: number;
  /**
   * Per dm-worker name, the addresses MySQL sees its connections come from,
   * when that is not the host of its advertised address (NAT, several
   * interfaces). Verification matches DM's binlog dump connections by them.
   */
  workerHosts?: Record<string, string[]>;
}

/**
 * DM's words for a broken, refused or not yet reachable upstream connection:
 * worth another resume, not a failed switch. "no route to host" is what a
 * dm-worker meets when its neighbour entry for a VIP that just moved has not
 * yet taken the gratuitous ARP (seen in CI right after a move away from an
 * instance cut off from the network).
 */
export function isUpstreamConnectionError(text: string): boolean {
  return UPSTREAM_CONNECTION.test(text);
}
const UPSTREAM_CONNECTION = new RegExp(
  [
    'invalid connection',
    'bad connection',
    'connection refused',
    'broken pipe',
    'connection reset',
    'i/o timeout',
    'no route to host',
    'host is unreachable',
    'network is unreachable',
    'ErrScope:\\\\?"upstream\\\\?"',
  ].join('|'),
  'i',
);

/**
 * DM's words for a request that did not get through in time (dm-master to
 * dm-worker over gRPC, an etcd leader change): the operation may succeed if
 * asked again, so it is retried rather than failing the switch.
 */
export function isTransientDmError(text: string): boolean {
  return TRANSIENT.test(text);
}
const TRANSIENT = new RegExp(
  [
    'grpc request error',
    'DeadlineExceeded',
    'context deadline exceeded',
    'code = Unavailable',
    'etcdserver: (leader changed|request timed out)',
    'not leader',
    'fail to get leader',
    'master is not leader',
  ].join('|'),
  'i',
);

/**
 * dmctl could not get an answer from DM (dm-master unreachable or being
 * re-elected, a dm-worker busy or restarting, a timeout): the answers DM
 * documents as transient. Retried by the activity's policy; every other
 * dmctl failure is DmOperationFailed and not retried.
 */
export const DM_UNAVAILABLE = 'DmUnavailable';
export const unavailable = (message: string) => ApplicationFailure.retryable(message, DM_UNAVAILABLE);

/** The configuration of a DM cluster the worker knows; InvalidInput for one it does not. */
export function clusterOf(clusters: Record<string, DmClusterConfig>, name: string): DmClusterConfig {
  const c = clusters[name];
  if (!c) {
    const known = Object.keys(clusters)
      .map((k) => `"${k}"`)
      .join(', ');
    throw failure(
      `unknown DM cluster "${name}": the worker knows ${known || 'none'} (dm.clusters in its configuration)`,
      SwitchErrorType.InvalidInput,
    );
  }
  return c;
}

/**
 * Runs dmctl against cluster `c` (named `dmCluster`); returns its parsed answer. Transport problems (dm-master
 * unreachable) throw a retryable error.
 */
export async function runDmctl(c: DmClusterConfig, dmCluster: string, args: string[]): Promise<DmctlJson> {
  // a span per call (activities/tracing.ts): the arguments (names and file paths, never a password), not the answer
  const attributes = {
    [ATTR.cluster]: dmCluster,
    [ATTR.instance]: c.masterAddr,
    'dmctl.command': args[0] ?? '',
    'dmctl.args': args.join(' '),
  };
  return inSpan(`dmctl ${args[0] ?? ''}`, attributes, () => dmctl(c, dmCluster, args), dmctlOutcome);
}

/** How a dmctl call ended, for its span: ok, or failed when DM answered that the operation failed somewhere. */
const dmctlOutcome = (answer: DmctlJson) => (dmctlFailures(answer).length ? 'failed' : 'ok');

async function dmctl(c: DmClusterConfig, dmCluster: string, args: string[]): Promise<DmctlJson> {
  const timeout = c.commandTimeoutMs ?? 60_000;
  // dmctl gets PATH and the locale, none of the worker's secrets
  const r = await execa(c.dmctl, [`--master-addr=${c.masterAddr}`, ...args], {
    reject: false,
    timeout,
    stdin: 'ignore',
    extendEnv: false,
    env: childEnv(),
  });
  if (r.exitCode === undefined && !r.timedOut && (r.code === 'ENOENT' || r.code === 'EACCES')) {
    // retried: a worker restarted with the right path carries the switch on
    const problem = r.code === 'ENOENT' ? 'is not found' : 'is not executable';
    throw unavailable(
      `dmctl cannot be run: ${c.dmctl} ${problem} (dm.clusters.${dmCluster}.dmctl in the worker's configuration); ` +
        'fix the path and restart the worker',
    );
  }
  const answer = parseDmctlOutput(r.stdout, r.stderr, r.exitCode);
  if (r.timedOut) throw unavailable(`dmctl ${args.join(' ')} timed out after ${timeout} ms`);
  if (r.exitCode !== 0 && answer.result !== true) {
    // dmctl itself failed (e.g. cannot reach dm-master): worth retrying
    throw unavailable(`dmctl ${args[0]} against ${c.masterAddr} failed: ${answer.msg}`);
  }
  return answer;
}

/**
 * The answer of `op` when it succeeded everywhere. Otherwise a retryable
 * failure when every failure is one DM documents as transient, else
 * DmOperationFailed with DM's words (and the answer as detail).
 */
export function checked(op: string, answer: DmctlJson): DmctlJson {
  const failures = dmctlFailures(answer);
  const words = () => failures.map((f) => `${f.name ? `${f.name}: ` : ''}${f.msg}`).join('; ');
  if (failures.length > 0 && failures.every((f) => isTransientDmError(f.msg))) {
    // dm-master could not reach a dm-worker in time (busy, restarting, or being re-elected): worth another attempt
    throw unavailable(`dmctl ${op}: ${words()}`);
  }
  if (failures.length > 0) {
    throw failure(`dmctl ${op} failed: ${words()}`, SwitchErrorType.DmOperationFailed, answer);
  }
  return answer;
}
