/**
 * The switch-level metrics a person on call watches, as the worker's
 * Prometheus endpoint exports them (DM_SWITCH_METRICS_LISTEN). Two sources:
 *
 * - events, emitted by the switch workflow in workflow time (a switch's end,
 *   its pause window): `finished`, `duration`, `pauseWindow`;
 * - the current state, read every DM_SWITCH_METRICS_INTERVAL_SECONDS by the
 *   worker from Temporal's visibility and the switches' status query
 *   (worker/metrics.ts): `running`, `awaitingApproval`, `frozen`,
 *   `needsOperator`, `collectorUp`.
 *
 * Every worker with metrics on exports the current-state gauges of every
 * switch in its namespace: aggregate them with `max by (…)`, not `sum`.
 */
export const METRICS = {
  finished: {
    name: 'dm_switch_finished_total',
    help:
      'Switches finished, by kind, DM cluster, source and outcome (switched, dry-run, ' +
      'refused, rolled-back, needs-operator)',
  },
  duration: {
    name: 'dm_switch_duration_seconds',
    help: 'Time from the start of a switch to its outcome, by kind, DM cluster and outcome',
  },
  pauseWindow: {
    name: 'dm_switch_pause_window_seconds',
    help:
      'How long a switch kept DM frozen: from the pause (VIP switch) or stop (address ' +
      "switch) of the source's tasks to their resume or start, or to the end of a rollback",
  },
  running: {
    name: 'dm_switch_running',
    help:
      'Running switches: 1 for each switch with its source, DM cluster, kind and ' +
      'current phase (0 for a phase it left)',
  },
  awaitingApproval: {
    name: 'dm_switch_awaiting_approval',
    help: 'Approval gates waiting for a person: 1 per switch and gate waiting now',
  },
  frozen: {
    name: 'dm_switch_frozen_seconds',
    help: 'How long the running switch of a source has kept DM frozen so far (0: not frozen)',
  },
  needsOperator: {
    name: 'dm_switch_needs_operator',
    help:
      '1 while the latest switch of a source ended needs-operator (within ' +
      'DM_SWITCH_METRICS_LOOKBACK_HOURS) and no newer switch of it ran',
  },
  collectorUp: {
    name: 'dm_switch_metrics_collector_up',
    help: "1 when the worker's last reading of the running switches succeeded; 0: the current-state gauges are stale",
  },
} as const;

/**
 * Bucket boundaries (seconds) of the histograms: a pause window is seconds, a switch up to an approval that waits for
 * hours.
 */
export const METRIC_BUCKETS: Record<string, number[]> = {
  [METRICS.pauseWindow.name]: [0.5, 1, 2, 3, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600],
  [METRICS.duration.name]: [5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600, 14_400, 86_400],
};
