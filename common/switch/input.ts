/**
 * Inputs of the switch workflows: JSON a person can type into the Temporal
 * UI's "start workflow" form. Validated first, in the workflow, with every
 * problem named; nothing is changed before validation passes.
 *
 * Credentials are never part of an input: `credentials` names a reference
 * that the worker resolves (environment variable or file), so no password
 * reaches workflow history.
 */
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { hostSyntaxProblem } from './hosts.js';
import { GATES } from './status.js';

/** Default bound of the freeze: long enough for a catch-up and a person at a gate, short of binlog expiry. */
export const DEFAULT_MAX_FREEZE_SECONDS = 1_800;

/** A host name or address; never something a command would read as an option (common/switch/hosts.ts). */
export const hostSchema = z
  .string()
  .min(1, 'give the host name or address')
  .superRefine((h, ctx) => {
    const problem = hostSyntaxProblem(h);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

export const name = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/, 'use letters, digits, "_", "." or "-" (at most 128)');

export const InstanceRefSchema = z
  .object({
    host: hostSchema,
    port: z.number().int().min(1).max(65535).default(3306),
    credentials: name.describe('name of a credential reference that the worker resolves'),
  })
  .strict();
export type InstanceRef = z.infer<typeof InstanceRefSchema>;

/** Gates at which a person must approve before the switch goes on. None by default. */
export const ApprovalsSchema = z
  .object({
    /**
     * before-freeze: before pausing/stopping the tasks; before-switch: before the VIP move or source swap;
     * before-resume: before the tasks run again.
     */
    gates: z.array(z.enum(GATES)).max(GATES.length).default([]),
    /** A gate nobody decides within this time rejects the switch. */
    timeoutSeconds: z
      .number()
      .int()
      .min(10)
      .max(7 * 86_400)
      .default(3_600),
  })
  .strict()
  .default({ gates: [], timeoutSeconds: 3_600 });
export type Approvals = z.infer<typeof ApprovalsSchema>;

/**
 * Where the switch may go, when it should choose itself (the instance DM read
 * died, and the best survivor is not known in advance): instead
 * of one `newInstance`, an ordered list of `candidates`, or `discover`: the
 * replicas of `replicasOf` (default: the old instance's replication source,
 * and the old instance itself), as they report themselves (SHOW REPLICAS:
 * report_host and report_port must be set on them). Every candidate is
 * inspected before any change and the best that qualifies is chosen
 * (workflows/candidates.ts says how).
 */
export const DiscoverSchema = z
  .object({
    /**
     * Ask this instance for its replicas (e.g. the primary, when the old instance is down); default: the old instance's
     * source and the old instance.
     */
    replicasOf: InstanceRefSchema.optional(),
    /** Credential reference for the discovered instances; default: replicasOf's, else the old instance's. */
    credentials: name.optional(),
  })
  .strict();
export type Discover = z.infer<typeof DiscoverSchema>;

/** At most this many candidates are inspected (given or discovered). */
export const MAX_CANDIDATES = 16;

/** A check that runs although other fields have problems, so every problem is named at once. */
const ALWAYS = { when: () => true };

/** The three ways to name the target; exactly one is given. */
const targetFields = {
  /** The instance DM should read from after the switch. */
  newInstance: InstanceRefSchema.optional(),
  /** Instances the switch may choose from, in the operator's order of preference. */
  candidates: z
    .array(InstanceRefSchema)
    .min(1, 'give at least one candidate')
    .max(MAX_CANDIDATES, `give at most ${MAX_CANDIDATES} candidates`)
    .optional(),
  discover: DiscoverSchema.optional(),
};

function oneTarget(
  v: { newInstance?: unknown; candidates?: unknown; discover?: unknown; oldInstance?: unknown },
  ctx: z.RefinementCtx,
): void {
  // runs even when other fields have problems (ALWAYS): the input may then be anything
  if (v === null || typeof v !== 'object') return;
  const given = (['newInstance', 'candidates', 'discover'] as const).filter((k) => v[k] !== undefined);
  if (given.length === 0)
    ctx.addIssue({
      code: 'custom',
      path: ['newInstance'],
      message:
        'required: name the target as newInstance, or give candidates (a list) or ' +
        'discover ({}) to let the switch choose',
    });
  if (given.length > 1)
    ctx.addIssue({
      code: 'custom',
      path: [given[1]!],
      message: `give only one of newInstance, candidates and discover (got ${given.join(' and ')})`,
    });
  const d = v.discover as Discover | undefined;
  if (d && !d.replicasOf && v.oldInstance === undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['discover'],
      message:
        'discover needs an instance to ask for replicas: give discover.replicasOf (e.g. the primary) or oldInstance',
    });
  }
}

export const OptionsSchema = z
  .object({
    /** Perform every check and report the plan; change nothing. */
    dryRun: z.boolean().default(false),
    /** How long to wait for a lagging new instance to catch up with DM (0: do not wait). */
    catchUpTimeoutSeconds: z.number().int().min(0).max(86_400).default(300),
    /** How long the tasks may take to be Running on the new instance after resume. */
    verifyTimeoutSeconds: z.number().int().min(5).max(3_600).default(120),
    /**
     * How long DM may stay frozen (tasks paused or stopped), catch-up waits and
     * approval gates included; past it, the switch undoes what it did so
     * replication resumes on the old instance.
     */
    maxFreezeSeconds: z.number().int().min(30).max(86_400).default(DEFAULT_MAX_FREEZE_SECONDS),
    /**
     * Accept errant transactions on the new instance (ones the rest of the
     * topology never had, which DM would replicate downstream). Only through
     * the before-freeze gate, which the switch then always waits at, with the
     * errant GTIDs in what the approver reads.
     */
    acceptErrantTransactions: z.boolean().default(false),
    /**
     * Switch although a shard-merge task of the source has an unresolved
     * shard DDL lock that involves the source (it waits at the DDL, or the
     * others do); verification then counts "waiting at the lock's DDL" as
     * healthy and says so. Off: such a switch is refused before any change.
     */
    acceptShardDdlLock: z.boolean().default(false),
  })
  .strict()
  .default({
    dryRun: false,
    catchUpTimeoutSeconds: 300,
    verifyTimeoutSeconds: 120,
    maxFreezeSeconds: DEFAULT_MAX_FREEZE_SECONDS,
    acceptErrantTransactions: false,
    acceptShardDdlLock: false,
  });

export const VipSwitchInputSchema = z
  .object({
    /** The DM cluster, as named in the worker's configuration. */
    dmCluster: name.default('default'),
    /** The DM source to move (`source-id` of its source config). */
    sourceId: name,
    ...targetFields,
    /**
     * The instance the VIP points at now, if known; may be down (the switch then skips what needs it, with a warning).
     */
    oldInstance: InstanceRefSchema.optional(),
    vip: z
      .object({
        /** The address DM's source config connects to. */
        address: hostSchema,
        /** Which VIP provider of the worker's configuration moves it. */
        provider: name.default('default'),
      })
      .strict(),
    /**
     * The other DM sources (any cluster) that read the same VIP: moving it moves them too. The switch refuses
     * unless this names every one it finds; named, they are paused, checked and verified with this source
     * (workflows/shared-vip.ts).
     */
    sharedWith: z
      .array(z.object({ dmCluster: name, sourceId: name }).strict())
      .max(16)
      .optional(),
    options: OptionsSchema,
    approvals: ApprovalsSchema,
    /** Who asked, and why: recorded in the status and search attributes. */
    requestedBy: z.string().max(200).optional(),
    reason: z.string().max(2000).optional(),
  })
  .strict()
  .superRefine(oneTarget, ALWAYS);
/** A validated VIP switch request: the target may still be to choose (candidates, discover). */
export type VipSwitchParsed = z.infer<typeof VipSwitchInputSchema>;
/** A VIP switch whose target is known. */
export type VipSwitchInput = WithTarget<VipSwitchParsed>;
export type VipSwitchRequest = z.input<typeof VipSwitchInputSchema>;

/** A request with its target chosen: `newInstance` set. */
export type WithTarget<T extends { newInstance?: InstanceRef }> = Omit<T, 'newInstance'> & { newInstance: InstanceRef };

export type Validation<T> = { ok: true; value: T } | { ok: false; problems: string[] };

/**
 * Where a YAML document holds a password: every `password`/`passwd`/`pwd`
 * key (any case, quoted or not, block or flow style, at any depth) whose
 * value is not empty or DM's mask (`******`). Parsed, not matched as text.
 * Throws the parser's error for text that is not YAML.
 */
/**
 * Keys whose value is a secret in DM's configurations: passwords (DM masks
 * them as `******` in `config task`/`config source`), and those DM shows as
 * they are: S3 `secret-access-key`/`access-key`, session tokens, and TLS
 * material inlined as `ssl-*-base64` (the key, and its certificates).
 */
const SECRET_KEY = new RegExp(
  '^(password|passwd|pwd|secret[-_]?access[-_]?key|access[-_]?key(-id)?|session[-_]?token|token|secret' +
    '|ssl-[a-z]+-base64)$',
  'i',
);

const SECRET_PARAM = /[?&](secret[-_]?access[-_]?key|access[-_]?key|session[-_]?token|token|password)=(?!\**(&|$))/i;

/** Paths of the secret-like keys of a YAML document whose value is not masked (`******`) or empty. */
export function yamlSecretPaths(text: string): string[] {
  const walk = (v: unknown, path: string): string[] => {
    if (Array.isArray(v)) return v.flatMap((x, i) => walk(x, `${path}[${i}]`));
    if (v === null || typeof v !== 'object') return [];
    return Object.entries(v as Record<string, unknown>).flatMap(([k, x]) => {
      const p = path ? `${path}.${k}` : k;
      if (SECRET_KEY.test(k.trim()) && (x === null || typeof x !== 'object'))
        return x === null || x === undefined || /^\**$/.test(String(x)) ? [] : [p];
      // storage URLs carry their credentials as query parameters (s3://bucket/dir?secret-access-key=…)
      if (typeof x === 'string' && SECRET_PARAM.test(x)) return [p];
      return walk(x, p);
    });
  };
  return walk(parseYaml(text), '');
}

/**
 * A task configuration given by hand (YAML, as for `dmctl start-task`), for adopting a switch whose tasks were already
 * stopped.
 */
const TaskConfigSchema = z
  .string()
  .min(1)
  .max(1_000_000)
  .superRefine((yaml, ctx) => {
    let found: string[];
    try {
      found = yamlSecretPaths(yaml);
    } catch (e) {
      ctx.addIssue({
        code: 'custom',
        message:
          `is not valid YAML (${(e as Error).message.split('\n')[0]}); give the task's ` +
          `YAML as for \`dmctl start-task\``,
      });
      return;
    }
    if (found.length) {
      ctx.addIssue({
        code: 'custom',
        message:
          `contains a password or another secret (${found.join(', ')}); remove it (it ` +
          `would be kept in workflow history): the worker fills in the downstream password from taskCredentials`,
      });
    }
  });

export const AddressSwitchInputSchema = z
  .object({
    dmCluster: name.default('default'),
    /** The DM source to re-point; its `source-id` stays the same. */
    sourceId: name,
    /**
     * The instance the source should read from after the switch (its own address, no VIP): newInstance, or candidates /
     * discover.
     */
    ...targetFields,
    /** The instance the source reads from now, if known; may be down. */
    oldInstance: InstanceRefSchema.optional(),
    /**
     * Credential reference for the source config's `from` user (DM's replication
     * user), used for the new source and to restore the old one. Default: newInstance.credentials.
     */
    sourceCredentials: name.optional(),
    /**
     * Credential reference for the tasks' `target-database` user: DM masks the
     * downstream password in `config task`, so restarting a task needs it from the worker.
     */
    taskCredentials: name,
    /**
     * Adoption of a switch done partly by hand: configurations of tasks that are
     * no longer known to DM (already stopped), by task name. Without passwords.
     */
    taskConfigs: z.record(name, TaskConfigSchema).optional(),
    options: OptionsSchema,
    approvals: ApprovalsSchema,
    requestedBy: z.string().max(200).optional(),
    reason: z.string().max(2000).optional(),
  })
  .strict()
  .superRefine(oneTarget, ALWAYS);
export type AddressSwitchParsed = z.infer<typeof AddressSwitchInputSchema>;
export type AddressSwitchInput = WithTarget<AddressSwitchParsed>;
export type AddressSwitchRequest = z.input<typeof AddressSwitchInputSchema>;

export function validateAddressSwitchInput(raw: unknown): Validation<AddressSwitchParsed> {
  return validate(AddressSwitchInputSchema, raw);
}

/** Validates and fills defaults; problems are phrased for the person who typed the input. */
export function validateVipSwitchInput(raw: unknown): Validation<VipSwitchParsed> {
  return validate(VipSwitchInputSchema, raw);
}

export function validate<T>(schema: z.ZodType<T>, raw: unknown): Validation<T> {
  const secrets = findSecretKeys(raw);
  if (secrets.length > 0) {
    return {
      ok: false,
      problems: secrets.map(
        (path) =>
          `${path}: passwords never go into a switch's input (it is kept in workflow ` +
          `history); name a credential reference in "credentials" that the worker resolves`,
      ),
    };
  }
  // reportInput: zod 4 leaves the offending value out of an issue otherwise, and a wrong type would read as missing
  const r = schema.safeParse(raw, { reportInput: true });
  if (r.success) return { ok: true, value: r.data };
  return {
    ok: false,
    problems: r.error.issues.map((i) => {
      const path = i.path.length ? i.path.join('.') : '(input)';
      if (i.code === 'unrecognized_keys')
        return `${path}: unknown field(s) ${i.keys.map((k) => JSON.stringify(k)).join(', ')}`;
      if (i.code === 'invalid_type' && i.input === undefined) return `${path}: required (${i.expected})`;
      return `${path}: ${i.message}`;
    }),
  };
}

function findSecretKeys(raw: unknown, path = ''): string[] {
  if (raw === null || typeof raw !== 'object') return [];
  const out: string[] = [];
  for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
    const p = path ? `${path}.${k}` : k;
    if (/^(password|passwd|pwd|secret|api[-_]?key|token)$/i.test(k)) out.push(p);
    else out.push(...findSecretKeys(v, p));
  }
  return out;
}
