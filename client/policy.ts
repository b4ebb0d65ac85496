/**
 * The alert webhook's policy: which firing alert starts which switch.
 * Validated at start-up; every problem is named by its key.
 *
 *   taskQueue: dm-switch
 *   auth:
 *     bearerTokenEnv: DM_SWITCH_WEBHOOK_TOKEN   # Authorization: Bearer <token>
 *     hmacSecretEnv: DM_SWITCH_WEBHOOK_SECRET   # X-Dm-Switch-Signature: sha256=<hex of HMAC(timestamp.nonce.body)>
 *   tls: { certFile: /etc/dm-switch/tls.crt, keyFile: /etc/dm-switch/tls.key }   # optional: serve HTTPS
 *   limits: { maxConcurrent: 4, repeatWindowSeconds: 60 }                       # optional
 *   rules:
 *     - name: replica-01-down
 *       match: { alertname: MySQLReplicaDown, dm_source: mysql-replica-01 }   # every label must equal
 *       kind: vip                       # or address
 *       gates: [before-switch]          # gates that still need a human
 *       switch:                         # the switch request (workflow input), as for `dm-switch start`
 *         sourceId: mysql-replica-01
 *         newInstance: { host: db-b, credentials: upstream }
 *         vip: { address: 198.51.100.14 }
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { DEFAULT_TASK_QUEUE } from '../common/switch/ids.js';
import { AddressSwitchInputSchema, validate, VipSwitchInputSchema } from '../common/switch/input.js';
import { GATES } from '../common/switch/status.js';
import { invalid, parseYamlDocument } from '../common/yaml-document.js';

const RuleSchema = z
  .object({
    name: z.string().min(1),
    match: z.record(z.string(), z.string()).refine((m) => Object.keys(m).length > 0, 'match at least one label'),
    kind: z.enum(['vip', 'address']),
    /** Gates that still need a human; merged with `switch.approvals.gates` (a gate named in either is kept). */
    gates: z.array(z.enum(GATES)).default([]),
    switch: z.record(z.string(), z.unknown()),
  })
  .strict();

export const PolicySchema = z
  .object({
    taskQueue: z.string().min(1).default(DEFAULT_TASK_QUEUE),
    auth: z
      .object({
        bearerTokenEnv: z.string().min(1).optional(),
        bearerTokenFile: z.string().min(1).optional(),
        hmacSecretEnv: z.string().min(1).optional(),
        hmacSecretFile: z.string().min(1).optional(),
      })
      .strict()
      .refine((a) => a.bearerTokenEnv || a.bearerTokenFile || a.hmacSecretEnv || a.hmacSecretFile, 'set a bearer token or an HMAC secret (…Env or …File): the webhook never runs unauthenticated'),
    rules: z.array(RuleSchema).min(1, 'give at least one rule'),
    /** Serve HTTPS with this certificate (PEM files), for a webhook not behind a TLS proxy. */
    tls: z.object({ certFile: z.string().min(1), keyFile: z.string().min(1) }).strict().optional(),
    limits: z
      .object({
        /** Requests handled at once; more get 503 with Retry-After (Alertmanager retries). */
        maxConcurrent: z.number().int().positive().default(4),
        /** An alert (fingerprint and startsAt) seen again within this many seconds starts no Temporal call. */
        repeatWindowSeconds: z.number().int().nonnegative().default(60),
        /** Signed requests: how far the timestamp may be from now, and how long a nonce is remembered. */
        signatureWindowSeconds: z.number().int().positive().max(3600).default(300),
      })
      .strict()
      .default({ maxConcurrent: 4, repeatWindowSeconds: 60, signatureWindowSeconds: 300 }),
  })
  .strict();
export type Policy = z.infer<typeof PolicySchema>;
export type PolicyRule = Policy['rules'][number];

export class PolicyError extends Error {
  override readonly name = 'PolicyError';
}

/** Parses and validates a policy, including each rule's switch request against its workflow's input schema. */
export function parsePolicy(text: string, origin = 'policy'): Policy {
  const policy = parseYamlDocument(PolicySchema, text, origin, (m) => new PolicyError(m));
  const problems: string[] = [];
  policy.rules.forEach((rule, i) => {
    const r = rule.kind === 'vip' ? validate(VipSwitchInputSchema, rule.switch) : validate(AddressSwitchInputSchema, rule.switch);
    if (!r.ok) problems.push(...r.problems.map((p) => `rules.${i}.switch.${p}`));
  });
  if (problems.length) throw new PolicyError(invalid(origin, problems));
  return policy;
}

export async function loadPolicy(path: string): Promise<Policy> {
  const text = await readFile(path, 'utf8').catch((e: Error) => {
    throw new PolicyError(`cannot read the webhook policy ${path}: ${e.message} (set DM_SWITCH_WEBHOOK_POLICY to its path)`);
  });
  return parsePolicy(text, path);
}

/** The gates a rule's switches wait at: those of `gates` and those of `switch.approvals.gates`, in the gates' order. */
export function ruleGates(rule: PolicyRule): Array<(typeof GATES)[number]> {
  const inSwitch = ((rule.switch.approvals as { gates?: unknown } | undefined)?.gates ?? []) as string[];
  return GATES.filter((g) => rule.gates.includes(g) || inSwitch.includes(g));
}

/** The first rule whose every label matches, or undefined. */
export function matchRule(policy: Policy, labels: Record<string, string>): PolicyRule | undefined {
  return policy.rules.find((r) => Object.entries(r.match).every(([k, v]) => labels[k] === v));
}
