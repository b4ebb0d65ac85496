/**
 * Reading what dmctl prints, and DM's answers turned into the domain's
 * shapes (common/switch/types.ts). dmctl answers in JSON on stdout, but:
 * - it exits 0 when an operation fails: the verdict is in `result` (top level),
 *   `sources[].result` and, for batch operations, `tasks[].result`;
 * - start-task's `checkResult` (the precheck report, last field of the object)
 *   is embedded raw: newlines, tabs and unescaped quotes inside a string,
 *   which no JSON parser accepts, so it is cut out and kept as text;
 * - other strings may carry raw control characters too;
 * - failures of dmctl itself (bad flags, dm-master unreachable) may come as
 *   plain text, sometimes before a JSON object.
 */
import { parse as parseYaml } from 'yaml';
import { mariadbPosition } from '../../common/switch/mariadb-position.js';
import type { RelayState, ShardDdlLock, SourceState, TaskSubtask } from '../../common/switch/types.js';

export type DmctlJson = { result?: boolean; msg?: string } & Record<string, unknown>;

/** Escapes raw control characters inside JSON strings so that JSON.parse accepts dmctl's output. */
export function repairJson(text: string): string {
  let out = '';
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (inString) {
      if (c === '\\') {
        out += c + (text[i + 1] ?? '');
        i++;
        continue;
      }
      if (c === '"') inString = false;
      else if (c === '\n') {
        out += '\\n';
        continue;
      } else if (c === '\r') {
        out += '\\r';
        continue;
      } else if (c === '\t') {
        out += '\\t';
        continue;
      }
    } else if (c === '"') {
      inString = true;
    }
    out += c;
  }
  return out;
}

/** The JSON object dmctl printed, or `{ result: false, msg }` carrying its text when it printed none. */
export function parseDmctlOutput(stdout: string, stderr = '', exitCode?: number): DmctlJson {
  const start = stdout.indexOf('{');
  if (start >= 0) {
    const body = stdout.slice(start, stdout.lastIndexOf('}') + 1);
    const parsed = tryParse(body) ?? tryParse(repairJson(body)) ?? withRawCheckResult(body);
    if (parsed) return parsed;
  }
  const text = `${stdout}\n${stderr}`.trim();
  return { result: false, msg: `dmctl${exitCode === undefined ? '' : ` (exit ${exitCode})`}: ${text || 'no output'}` };
}

function tryParse(text: string): DmctlJson | undefined {
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) return parsed as DmctlJson;
  } catch {
    /* not JSON */
  }
  return undefined;
}

/** Parses the object without its raw `"checkResult": "…"` tail, then puts the tail back as plain text. */
function withRawCheckResult(body: string): DmctlJson | undefined {
  const key = /,\s*"checkResult"\s*:\s*"/.exec(body);
  if (!key) return undefined;
  const valueStart = key.index + key[0].length;
  const valueEnd = body.lastIndexOf('"', body.lastIndexOf('}'));
  if (valueEnd < valueStart) return undefined;
  const rest = tryParse(repairJson(`${body.slice(0, key.index)}\n}`));
  if (!rest) return undefined;
  return { ...rest, checkResult: body.slice(valueStart, valueEnd) };
}

export interface DmctlFailure {
  scope: 'dmctl' | 'source' | 'task';
  name?: string;
  msg: string;
}

/** Every failure a dmctl answer reports, at any level; empty when the operation succeeded everywhere. */
export function dmctlFailures(r: DmctlJson): DmctlFailure[] {
  const failures: DmctlFailure[] = [];
  const sources = Array.isArray(r.sources)
    ? (r.sources as Array<{ result?: boolean; msg?: string; source?: string }>)
    : [];
  const tasks = Array.isArray(r.tasks)
    ? (r.tasks as Array<{ result?: boolean; msg?: string; task?: string; op?: string }>)
    : [];
  for (const s of sources) if (s.result === false) failures.push({ scope: 'source', name: s.source, msg: s.msg ?? '' });
  for (const t of tasks) if (t.result === false) failures.push({ scope: 'task', name: t.task, msg: t.msg ?? '' });
  if (r.result !== true && failures.length === 0)
    failures.push({ scope: 'dmctl', msg: r.msg || 'dmctl reported result=false without a message' });
  return failures;
}

// ---- config source, query-status, shard-ddl-lock, list-member, operate-source show

/** What a source config (`config source`, YAML) says that a switch needs. */
export interface SourceConfig {
  'enable-gtid'?: boolean;
  'enable-relay'?: boolean;
  flavor?: string;
  from?: { host?: string; port?: number; user?: string };
  'server-id'?: number;
}

export function parseSourceConfig(yaml: string): SourceConfig {
  return parseYaml(yaml) as SourceConfig;
}

type RawErrors = Array<{ Message?: string; RawCause?: string; message?: string }>;

/** A subtask's errors, in DM's words: the message and its raw cause. */
function errorsOf(result: null | { errors?: RawErrors }): string[] {
  return (result?.errors ?? []).map((e) => [e.Message ?? e.message, e.RawCause].filter(Boolean).join(': '));
}

/** DM's view of a source: its config (`config source`) and its status (`query-status -s <source>`). */
export function sourceStateOf(sourceId: string, cfg: SourceConfig, status: DmctlJson): SourceState {
  type RawSub = {
    name: string;
    stage: string;
    unit: string;
    result: null | { isCanceled?: boolean; errors?: RawErrors };
    sync?: { syncerBinlogGtid?: string; masterBinlogGtid?: string };
    validation?: null | { mode?: string; stage?: string };
  };
  type RawSource = {
    sourceStatus?: { worker?: string; relayStatus?: null | (RelayState & { stage: string }) };
    subTaskStatus?: RawSub[];
  };
  const src = ((status.sources as RawSource[] | undefined) ?? [])[0];
  const relay = src?.sourceStatus?.relayStatus ?? null;
  // DM keeps a MariaDB set per domain and server id: one position per domain for the checks
  const pos = (text: string) => (cfg.flavor === 'mariadb' ? mariadbPosition(text) : text);
  return {
    sourceId,
    worker: src?.sourceStatus?.worker || null,
    enableGtid: cfg['enable-gtid'] === true,
    enableRelay: cfg['enable-relay'] === true,
    flavor: cfg.flavor === 'mariadb' ? 'mariadb' : 'mysql',
    from: { host: cfg.from?.host ?? '', port: Number(cfg.from?.port ?? 3306), user: cfg.from?.user ?? '' },
    relay: relay
      ? {
          stage: relay.stage,
          relaySubDir: relay.relaySubDir,
          relayBinlogGtid: pos(relay.relayBinlogGtid),
          masterBinlogGtid: pos(relay.masterBinlogGtid),
          relayCatchUpMaster: relay.relayCatchUpMaster,
        }
      : null,
    tasks: (src?.subTaskStatus ?? []).map((t) => ({
      name: t.name,
      stage: t.stage,
      unit: t.unit,
      syncerBinlogGtid: pos(t.sync?.syncerBinlogGtid ?? ''),
      masterBinlogGtid: pos(t.sync?.masterBinlogGtid ?? ''),
      errors: errorsOf(t.result),
      ...(typeof t.result?.isCanceled === 'boolean' ? { canceled: t.result.isCanceled } : {}),
      ...(t.validation ? { validation: { mode: t.validation.mode ?? '', stage: t.validation.stage ?? '' } } : {}),
    })),
  };
}

/** Every subtask of `task`, on every source it reads, from `query-status <task>`. */
export function subtasksOf(task: string, answer: DmctlJson): TaskSubtask[] {
  type RawGroup = { target?: string; DDLs?: string[]; synced?: string[]; unsynced?: string[] };
  type RawSub = {
    name: string;
    stage: string;
    unit: string;
    result: null | { errors?: RawErrors };
    sync?: { syncerBinlogGtid?: string; unresolvedGroups?: RawGroup[]; blockingDDLs?: string[] };
  };
  type RawSource = { sourceStatus?: { source?: string; worker?: string }; subTaskStatus?: RawSub[] };
  return ((answer.sources as RawSource[] | undefined) ?? []).flatMap((src) =>
    (src.subTaskStatus ?? [])
      .filter((t) => t.name === task)
      .map((t) => ({
        source: src.sourceStatus?.source ?? '',
        stage: t.stage,
        unit: t.unit,
        syncerBinlogGtid: t.sync?.syncerBinlogGtid ?? '',
        errors: errorsOf(t.result),
        unresolvedGroups: (t.sync?.unresolvedGroups ?? []).map((g) => ({
          target: g.target ?? '',
          ddls: g.DDLs ?? [],
          synced: g.synced ?? [],
          unsynced: g.unsynced ?? [],
        })),
      })),
  );
}

/** The shard DDL locks `shard-ddl-lock <task>` lists. */
export function shardDdlLocksOf(task: string, answer: DmctlJson): ShardDdlLock[] {
  type Raw = {
    ID?: string;
    task?: string;
    mode?: string;
    owner?: string;
    DDLs?: string[];
    synced?: string[];
    unsynced?: string[];
  };
  return ((answer.locks as Raw[] | undefined) ?? []).map((l) => ({
    id: l.ID ?? '',
    task: l.task ?? task,
    mode: l.mode ?? '',
    owner: l.owner ?? '',
    ddls: l.DDLs ?? [],
    synced: l.synced ?? [],
    unsynced: l.unsynced ?? [],
  }));
}

/** A dm-worker as `list-member --worker` shows it. */
export interface DmWorkerMember {
  name: string;
  addr: string;
  stage: string;
  source: string;
}

/** The dm-workers `list-member --worker` lists. */
export function workersOf(answer: DmctlJson): DmWorkerMember[] {
  const members = (answer.members as Array<{ worker?: { workers?: DmWorkerMember[] } }> | undefined) ?? [];
  return members.flatMap((m) => m.worker?.workers ?? []);
}

/** The source ids `operate-source show` lists. */
export function sourceIdsOf(answer: DmctlJson): string[] {
  return ((answer.sources as Array<{ source?: string }> | undefined) ?? []).map((x) => x.source ?? '').filter(Boolean);
}
