/**
 * The activities as the workflows see them: types only, each group with its
 * own timeouts and retry policy. Business failures (ApplicationFailure with
 * nonRetryable) are never retried; transport failures are, with backoff.
 *
 * Every activity heartbeats while it runs (the worker's keep-alive,
 * worker/heartbeat.ts), so a heartbeat timeout of 10 s notices a dead worker
 * quickly and the activity is retried elsewhere.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { DmActivities } from '../activities/dm/index.js';
import type { MysqlActivities } from '../activities/mysql.js';
import type { NetActivities } from '../activities/net.js';
import type { NotifyActivities } from '../activities/notify.js';
import type { TemporalActivities } from '../activities/temporal.js';
import type { VipActivities } from '../activities/vip.js';

const retry = { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 5 };

/** Reads of DM and MySQL state: short, retried. */
const heartbeatTimeout = '10s';
export const dm = proxyActivities<DmActivities>({ startToCloseTimeout: '3m', heartbeatTimeout, retry });
export const mysql = proxyActivities<MysqlActivities>({ startToCloseTimeout: '1m', heartbeatTimeout, retry });
export const net = proxyActivities<NetActivities>({ startToCloseTimeout: '30s', heartbeatTimeout, retry });
export const vip = proxyActivities<VipActivities>({
  startToCloseTimeout: '2m',
  heartbeatTimeout,
  retry: { ...retry, maximumAttempts: 3 },
});

/**
 * Undo steps: retried as long as it takes within minutes, not 15 s of
 * backoff, so that a dm-master failover or a network blip during
 * compensation does not end in needs-operator. Business failures (a DM
 * operation refused, a forbidden order) are not retried.
 */
const undoRetry = { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '20s' };
export const undoDm = proxyActivities<DmActivities>({
  startToCloseTimeout: '4m',
  scheduleToCloseTimeout: '10m',
  heartbeatTimeout,
  retry: undoRetry,
});
export const undoMysql = proxyActivities<MysqlActivities>({
  startToCloseTimeout: '1m',
  scheduleToCloseTimeout: '5m',
  heartbeatTimeout,
  retry: undoRetry,
});
export const undoVip = proxyActivities<VipActivities>({
  startToCloseTimeout: '2m',
  scheduleToCloseTimeout: '10m',
  heartbeatTimeout,
  retry: undoRetry,
});

/**
 * Notifications (workflows/notify.ts): a POST each, retried at most 5 times
 * within 2 minutes, so a receiver that is down delays the end of a switch
 * by at most that, and never a gate or its decision (not awaited there).
 */
export const notify = proxyActivities<NotifyActivities>({
  startToCloseTimeout: '45s',
  scheduleToCloseTimeout: '2m',
  heartbeatTimeout,
  retry,
});

/**
 * A drain waiting for a switch to end (one it joined, or to read how one
 * ended): as long as a switch may take, gates included; the keep-alive
 * heartbeat hands the wait to another worker when this one dies.
 */
export const temporal = proxyActivities<TemporalActivities>({
  startToCloseTimeout: '8d',
  heartbeatTimeout,
  retry: undoRetry,
});

/** Long waits (catch-up) get a timeout from the input and must heartbeat. */
export function longMysql(timeoutSeconds: number) {
  return proxyActivities<MysqlActivities>({
    startToCloseTimeout: `${timeoutSeconds + 120}s`,
    heartbeatTimeout,
    retry: { ...retry, maximumAttempts: 3 },
  });
}
export function longDm(timeoutSeconds: number) {
  return proxyActivities<DmActivities>({
    startToCloseTimeout: `${timeoutSeconds + 180}s`,
    heartbeatTimeout,
    retry: { ...retry, maximumAttempts: 3 },
  });
}
