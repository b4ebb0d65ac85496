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
import type { DmActivities } from '../activities/dm.js';
import type { MysqlActivities } from '../activities/mysql.js';
import type { NetActivities } from '../activities/net.js';
import type { VipActivities } from '../activities/vip.js';

const retry = { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 5 };

/** Reads of DM and MySQL state: short, retried. */
const heartbeatTimeout = '10s';
export const dm = proxyActivities<DmActivities>({ startToCloseTimeout: '3m', heartbeatTimeout, retry });
export const mysql = proxyActivities<MysqlActivities>({ startToCloseTimeout: '1m', heartbeatTimeout, retry });
export const net = proxyActivities<NetActivities>({ startToCloseTimeout: '30s', heartbeatTimeout, retry });
export const vip = proxyActivities<VipActivities>({ startToCloseTimeout: '2m', heartbeatTimeout, retry: { ...retry, maximumAttempts: 3 } });

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
