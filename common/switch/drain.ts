/**
 * Draining a host (before its maintenance): every DM source, across the DM clusters,
 * that reads from one host (its own address, or a VIP the host holds) is
 * switched elsewhere, each by its own switch workflow, after one plan and,
 * when asked, one approval. And the return: the sources a drain moved go
 * back to the host, with the same checks. Plain JSON, shared by the
 * workflow (workflows/drain.ts), the CLI and the webhook.
 */
import { z } from 'zod';
import { DiscoverSchema, InstanceRefSchema, MAX_CANDIDATES, name, OptionsSchema, type InstanceRef } from './input.js';
import type { ApprovalRecord, CandidateReport, Outcome } from './status.js';

const CommonSchema = {
  /**
   * The host to free (drain) or to move the sources back to (return): as DM's source configs name it, or an address it
   * resolves to.
   */
  host: z.string().regex(/^[A-Za-z0-9._:[\]-]{1,253}$/, 'a host name or address (letters, digits, ".", "-", ":")'),
  /** Its MySQL port. */
  port: z.number().int().min(1).max(65535).default(3306),
  /** Credential reference (on the worker) for the host and the instances the sources move to. */
  credentials: name,
  /** Address switches: credential reference for the tasks' downstream (DM masks its password). */
  taskCredentials: name.optional(),
  /** Address switches: credential reference for DM's replication user; default: credentials. */
  sourceCredentials: name.optional(),
  /**
   * Wait for one approval of the whole plan (signal or update `approve` / `reject`, as for a switch's gate) before any
   * switch.
   */
  approve: z.boolean().default(false),
  /** A plan nobody decides within this time is rejected. */
  approvalTimeoutSeconds: z
    .number()
    .int()
    .min(10)
    .max(7 * 86_400)
    .default(3_600),
  /** Switches running at once. */
  concurrency: z.number().int().min(1).max(16).default(2),
  /** Stop starting switches after the first that does not end switched (the running ones finish). */
  stopOnFailure: z.boolean().default(false),
  /** Options of every switch (catch-up and verify timeouts, freeze bound, …); dryRun plans only. */
  options: OptionsSchema,
  requestedBy: z.string().max(200).optional(),
  reason: z.string().max(2000).optional(),
};

const VipRefSchema = z.object({ address: z.string().min(1), provider: name.default('default') }).strict();

export const DrainInputSchema = z
  .object({
    ...CommonSchema,
    /** DM clusters to search (names of the worker's configuration); default: every one the worker knows. */
    dmClusters: z.array(name).min(1).optional(),
    /**
     * VIPs a source may read through: a source whose source config names one of these, held by the host now, moves by a
     * VIP switch.
     */
    vips: z.array(VipRefSchema).default([]),
    /** Where the sources may go, in order of preference (each switch chooses the best that passes its checks)… */
    candidates: z.array(InstanceRefSchema).min(1).max(MAX_CANDIDATES).optional(),
    /** …or the replicas found by asking (default: the host's replicas and its source's). */
    discover: DiscoverSchema.optional(),
  })
  .strict()
  .refine((d) => !(d.candidates && d.discover), {
    message: 'give candidates or discover, not both',
    path: ['discover'],
  });
export type DrainInput = z.infer<typeof DrainInputSchema>;
export type DrainRequest = z.input<typeof DrainInputSchema>;

/** What a return moves back: a source a drain moved, where it reads now. */
export const ReturnSourceSchema = z
  .object({
    dmCluster: name,
    sourceId: name,
    procedure: z.enum(['vip', 'address']),
    /** Where it reads now (the drain's target). */
    from: InstanceRefSchema,
    vip: VipRefSchema.optional(),
  })
  .strict()
  .refine((s) => s.procedure === 'address' || s.vip !== undefined, {
    message: 'a vip source needs its vip',
    path: ['vip'],
  });

export const ReturnInputSchema = z
  .object({
    ...CommonSchema,
    /** The sources to move back to the host (`dm-switch undrain` takes them from the drain's result). */
    sources: z.array(ReturnSourceSchema).min(1, 'name at least one source to move back'),
  })
  .strict();
export type ReturnInput = z.infer<typeof ReturnInputSchema>;
export type ReturnRequest = z.input<typeof ReturnInputSchema>;

/**
 * A drain's target `host:port` as an instance with the credentials it was
 * judged with: the candidate's own, or the discovered replicas' (discover's,
 * else the asked instance's, else the drain's).
 */
export function drainTargetRef(input: DrainInput, address: string): InstanceRef {
  const given = input.candidates?.find((c) => `${c.host}:${c.port}` === address);
  if (given) return given;
  const i = address.lastIndexOf(':');
  return {
    host: address.slice(0, i),
    port: Number(address.slice(i + 1)),
    credentials: input.discover?.credentials ?? input.discover?.replicasOf?.credentials ?? input.credentials,
  };
}

/** One workflow per host and direction at a time, like one switch per source. */
export function drainWorkflowId(kind: 'drain' | 'return', host: string, port: number): string {
  return `dm-switch-${kind}/${host}:${port}`;
}

export type HostOutcome =
  /** drain: no source of the clusters searched reads the host any more. */
  | 'drained'
  /** drain: some still do (each source's outcome says why). */
  | 'not-drained'
  /** return: every source reads the host again. */
  | 'returned'
  /** return: some do not. */
  | 'not-returned'
  /** The plan was rejected (or its approval timed out), or the input was invalid: nothing was changed. */
  | 'refused'
  /** options.dryRun: the plan only. */
  | 'planned';

export interface HostSource {
  dmCluster: string;
  sourceId: string;
  procedure: 'vip' | 'address';
  /** How it reads the host: `10.0.0.5:3306`, or `VIP 10.0.0.14 (held by the host)`. */
  reads: string;
  /** The VIP it reads through (a VIP switch). */
  vip?: { address: string; provider: string };
  workflowId: string;
  /** The plan for it. */
  plan: 'switch' | 'refused' | 'joined';
  /** Where it goes (the switch's choice in the plan). */
  target?: string;
  /** Why (the plan's reasons, the switch's refusal, or how it ended). */
  reasons: string[];
  candidates?: CandidateReport[];
  /**
   * How its switch ended; `not-started` when stopOnFailure held it back, `cancelled` when the drain was cancelled
   * first.
   */
  outcome?: Outcome | 'not-started' | 'cancelled';
  /** The run of its switch. */
  runId?: string;
}

/** A drain's one gate: before its switches start, the whole plan is approved (input `approve`). */
export const HOST_GATES = ['plan'] as const;
export type HostGate = (typeof HOST_GATES)[number];

export type HostPhase = 'validating' | 'finding' | 'planning' | 'awaiting-approval' | 'switching' | 'checking' | 'done';

export interface HostStatus {
  kind: 'drain' | 'return';
  host: string;
  port: number;
  phase: HostPhase;
  outcome?: HostOutcome;
  /** options.dryRun: the plan only. */
  dryRun: boolean;
  startedAt: string;
  updatedAt: string;
  requestedBy?: string;
  reason?: string;
  /** The request as validated (inputs hold no secrets): what `dm-switch undrain` builds the return from. */
  input?: DrainInput | ReturnInput;
  sources: HostSource[];
  /**
   * A drain: the host is under maintenance from the drain's start until an undrain starts (no switch chooses it as a
   * target); cleared when the drain was refused, only planned, or cancelled. A return: it lifts the mark.
   */
  maintenance?: string;
  /** After the switches: the sources still reading the host (drain), or not reading it (return). */
  left: string[];
  /** One line per source: its switch and target, the switch it joins, or why it stays (common/switch/runbook.ts). */
  plan: string[];
  decisions: Array<{ at: string; phase: HostPhase; verdict: 'go' | 'refuse' | 'warn' | 'info'; reason: string }>;
  /** The decisions that warn, as a switch's status has them. */
  warnings: string[];
  /** The plan's approval (gate `plan`, with `approve`), recorded as a switch records each of its gates. */
  approvals: Array<ApprovalRecord<HostGate>>;
}
