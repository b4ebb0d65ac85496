/**
 * The search attributes a switch keeps up to date, so switches can be found
 * and filtered in the Temporal UI and with `dm-switch list`, e.g.
 * `DmSwitchSource = "mysql-replica-01" AND DmSwitchOutcome = "needs-operator"`.
 * All Keyword; they must be registered on the namespace (the dev server of
 * `npm start` and the tests registers them; for a cluster, see docs/deploying.md).
 */
import { defineSearchAttributeKey } from '@temporalio/common';

export const SA = {
  source: defineSearchAttributeKey('DmSwitchSource', 'KEYWORD'),
  cluster: defineSearchAttributeKey('DmSwitchCluster', 'KEYWORD'),
  kind: defineSearchAttributeKey('DmSwitchKind', 'KEYWORD'),
  phase: defineSearchAttributeKey('DmSwitchPhase', 'KEYWORD'),
  outcome: defineSearchAttributeKey('DmSwitchOutcome', 'KEYWORD'),
} as const;

/**
 * name → type, as `temporal server start-dev --search-attribute` and `temporal operator search-attribute create` take
 * them.
 */
export const SEARCH_ATTRIBUTES: Record<string, 'Keyword'> = Object.fromEntries(
  Object.values(SA).map((k) => [k.name, 'Keyword']),
);
