/**
 * Preflight, the first step of both switches: DM's source and tasks, the new
 * (and, if up, old) instance's settings and topology, read from the real
 * state. It records what it saw and refuses, before any change, with a
 * typed, non-retryable failure that says why and what to do.
 */
import { ApplicationFailure as Failure } from '@temporalio/workflow';
import { normalizeAddress } from '../common/switch/addresses.js';
import { binlogSettingNotes, rowEventSizeNote, unreadableBinlogSettings } from '../common/switch/binlog-settings.js';
import { SwitchErrorType } from '../common/switch/errors.js';
import { dialectOfFacts } from '../common/mysql/dialect.js';
import type { Flavor, InstanceFacts, SourceState } from '../common/switch/types.js';
import { filterProblems, noFilters, type TaskScope } from '../common/switch/filters.js';
import type { InstanceRef } from '../common/switch/input.js';
import { dm, mysql, net } from './activities.js';
import { describeChain, serverFilters } from './topology-checks.js';
import type { Tracker } from './tracker.js';

/** Why a source without GTIDs is refused, and what to do. */
export function notGtidMode(sourceId: string): string {
  return (
    `source ${sourceId} does not run in GTID mode (enable-gtid is false in its ` +
    `source config): the runbook cannot switch it safely; redeploy the source with ` +
    `enable-gtid: true first`
  );
}

export interface PreflightResult<S extends SourceState | null = SourceState> {
  source: S;
  newFacts: Extract<InstanceFacts, { reachable: true }>;
  oldFacts: Extract<InstanceFacts, { reachable: true }> | null;
  /** The tasks' schemas, when preflight read them (it does only where it found a filter). */
  scopes?: TaskScope[] | null;
}

export function refuse(t: Tracker, type: SwitchErrorType, reason: string): never {
  t.status.failureType = type;
  t.decide('refuse', reason);
  t.finish('refused');
  throw Failure.create({ message: reason, type, nonRetryable: true });
}

/**
 * The runbook's preconditions, read from the real state: the source exists and
 * runs in GTID mode, its tasks, relay, and the new (and, if up, old) instance's
 * settings. The old instance may be down: what needs it is skipped with a warning.
 */
type PreflightRequest = { dmCluster: string; sourceId: string; newInstance: InstanceRef; oldInstance?: InstanceRef };

export async function preflight(t: Tracker, req: PreflightRequest): Promise<PreflightResult>;
/** For adopting a half-done address switch: DM may no longer know the source (removed by hand). */
export async function preflight(
  t: Tracker,
  req: PreflightRequest,
  opts: { sourceMayBeMissing: true },
): Promise<PreflightResult<SourceState | null>>;
export async function preflight(
  t: Tracker,
  req: PreflightRequest,
  opts?: { sourceMayBeMissing: true },
): Promise<PreflightResult<SourceState | null>> {
  t.phase('preflight');
  const where = { dmCluster: req.dmCluster, sourceId: req.sourceId };
  const [source, newFacts, oldFacts] = await Promise.all([
    opts?.sourceMayBeMissing ? dm.dmFindSource(where) : dm.dmSourceState(where),
    mysql.mysqlInspect(req.newInstance, { withSources: true }),
    // the old instance's chain says whether a writable primary answers elsewhere
    req.oldInstance ? mysql.mysqlInspect(req.oldInstance, { withSources: true }) : Promise.resolve(null),
  ]);
  if (source) {
    t.tasks(source.tasks);
    if (!source.enableGtid) {
      refuse(t, SwitchErrorType.PreflightFailed, notGtidMode(req.sourceId));
    }
    t.decide(
      'go',
      `source ${req.sourceId} runs in GTID mode (flavor ${source.flavor}) on ` +
        `${source.worker ?? 'no worker'}, reading ${source.from.host}:${source.from.port}`,
    );
    if (source.tasks.length === 0) t.decide('info', `source ${req.sourceId} has no tasks: nothing to pause or resume`);
    else {
      const each = source.tasks.map((x) => {
        const errors = x.errors.length ? ` with errors: ${x.errors.join('; ')}` : '';
        return `${x.name} ${x.stage}/${x.unit}${errors}`;
      });
      t.decide('info', `tasks of the source (query-status): ${each.join(', ')}`);
    }
    if (source.enableRelay) {
      const relay = source.relay
        ? `${source.relay.stage}, sub-directory ${source.relay.relaySubDir}`
        : 'no relay status';
      t.decide('info', `relay is on (${relay}): it will be checked to switch to a new sub-directory and catch up`);
    }
  } else {
    t.decide(
      'warn',
      `DM does not know source ${req.sourceId}: it was removed (operate-source stop), ` +
        `perhaps halfway through an earlier switch; it will be created reading the new instance`,
    );
  }

  if (!newFacts.reachable)
    refuse(
      t,
      SwitchErrorType.PreflightFailed,
      `the new instance ${newFacts.address} is not reachable: ${newFacts.error}`,
    );
  const problems = servingProblems(newFacts, source?.flavor ?? null);
  if (problems.length)
    refuse(
      t,
      SwitchErrorType.PreflightFailed,
      `the new instance ${newFacts.address} cannot serve DM: ${problems.join('; ')}`,
    );
  t.decide(
    'go',
    `new instance ${newFacts.address} (${newFacts.version}, server_uuid ` +
      `${newFacts.serverUuid}): GTIDs on, binlog ROW/FULL`,
  );
  // what an older server lacks (its variable does not exist there) is off, decided from its version and said once
  const lacks = dialectOfFacts(newFacts).off;
  if (lacks.length) t.decide('info', `decided from the version of ${newFacts.address}: ${lacks.join('; ')}`);
  const scopes = await filterCheck(t, req, source, newFacts);
  for (const n of binlogSettingNotes(newFacts)) t.decide('info', n);
  if (newFacts.flavor === 'mariadb' && newFacts.gtidStrictMode === false) {
    t.decide(
      'warn',
      `gtid_strict_mode is OFF on the new instance ${newFacts.address}: MariaDB does ` +
        `not enforce one order of sequence numbers per domain, so transactions logged ` +
        `out of order could escape the errant-transaction check (per domain and server ` +
        `id); turn it on (SET GLOBAL gtid_strict_mode = ON, and in the server's configuration)`,
    );
  }

  let old: PreflightResult['oldFacts'] = null;
  if (oldFacts === null) {
    t.decide('warn', 'old instance not given: skipping the server_uuid and binlog_row_event_max_size comparison');
  } else if (!oldFacts.reachable) {
    t.decide(
      'warn',
      `old instance ${oldFacts.address} is unreachable (${oldFacts.error}): skipping ` +
        `the checks that need it; the switch relies on DM's own position (gtid-S)`,
    );
  } else {
    old = oldFacts;
    if (oldFacts.serverUuid === newFacts.serverUuid)
      refuse(
        t,
        SwitchErrorType.PreflightFailed,
        `old and new instance are the same server (server_uuid ${newFacts.serverUuid})`,
      );
    const sizes = rowEventSizeNote(oldFacts, newFacts);
    if (sizes) t.decide('info', sizes);
    t.decide('go', `old instance ${oldFacts.address} (server_uuid ${oldFacts.serverUuid}) differs from the new one`);
  }
  return { source, newFacts, oldFacts: old, scopes };
}

/**
 * Replication and binary log filters (and replica_skip_errors) on the new
 * instance and on every server up to the primary: refused when one could
 * hide changes of a schema the source's tasks replicate (common/switch/filters.ts).
 */
async function filterCheck(
  t: Tracker,
  req: PreflightRequest,
  source: SourceState | null,
  facts: PreflightResult['newFacts'],
): Promise<TaskScope[] | null> {
  const chain = describeChain(facts);
  if (chain) t.decide('info', chain);
  const servers = serverFilters(facts);
  if (servers.every(noFilters)) {
    const where = servers.map((s) => s.address).join(', ') || facts.address;
    t.decide('go', `no replication or binary log filter and no skipped errors on ${where}`);
    return null;
  }
  const names = source?.tasks.map((x) => x.name) ?? [];
  const { dmCluster, sourceId } = req;
  const scopes = names.length ? await dm.dmTaskScopes({ dmCluster, sourceId, tasks: names }) : [];
  const problems = filterProblems(servers, scopes);
  if (problems.length) {
    const why =
      facts.flavor === 'mysql'
        ? 'with GTIDs on, a filtered transaction is committed empty and keeps its GTID, so every GTID rule holds'
        : 'MariaDB counts a filtered transaction in gtid_current_pos but leaves it out of the binary log, ' +
          'so every GTID rule holds';
    const text = `switch refused, nothing was changed: DM would silently miss changes behind a filter (${why})`;
    refuse(t, SwitchErrorType.PreflightFailed, `${text}: ${problems.join('; ')}`);
  }
  const scope = scopes.map((x) => `${x.task}: ${x.do?.join(', ') ?? 'every schema'}`).join('; ');
  t.decide('go', `the filters found cannot touch what the tasks replicate (${scope})`);
  return scopes;
}

/** Why an instance cannot serve a DM source of `flavor` (null: not known), in words; empty when it can. */
export function servingProblems(facts: PreflightResult['newFacts'], flavor: Flavor | null): string[] {
  const problems: string[] = [];
  if (flavor && facts.flavor !== flavor) problems.push(`it is ${facts.flavor} but the source's flavor is ${flavor}`);
  if (facts.flavor === 'mysql' && facts.gtidMode !== 'ON') problems.push(`gtid_mode is ${facts.gtidMode}, not ON`);
  if (!facts.logBin) problems.push('binary logging is off (log_bin=0)');
  problems.push(...unreadableBinlogSettings(facts));
  if (facts.replica !== null && facts.logReplicaUpdates === false) {
    problems.push(
      `it is a replica with ` +
        `${dialectOfFacts(facts).variables.logReplicaUpdates} OFF: ` +
        `what it replicates is not in its own binary log, so DM could not read it from there`,
    );
  }
  return problems;
}

/** The same host: the same text, or names that resolve to a common address. */
export async function sameHost(a: string, b: string): Promise<boolean> {
  if (normalizeAddress(a) === normalizeAddress(b)) return true;
  const resolved = await net.netResolveHosts({ hosts: [a, b] });
  const of = (h: string) => new Set((resolved[h] ?? []).map(normalizeAddress));
  const bs = of(b);
  return [...of(a)].some((x) => bs.has(x));
}
