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
 *       gates: [before-freeze]          # gates that still need a human (before-freeze, or unattended: true)
 *       switch:                         # the switch request (workflow input), as for `dm-switch start`
 *         sourceId: mysql-replica-01
 *         newInstance: { host: db-b, credentials: upstream }
 *         vip: { address: 198.51.100.14 }
 *     - name: instance-down-any-source  # one rule for every source: values from the alert's labels
 *       match: { alertname: MySQLInstanceDown }
 *       require: [dm_source]            # labels that must be present (any value) for the rule to match
 *       kind: vip
 *       switch:
 *         sourceId: "{{ labels.dm_source }}"
 *         oldInstance: { host: "{{ labels.instance | host }}", port: "{{ labels.instance | port }}", credentials:
 * upstream }
 *         …
 *
 * Templates (grammar in policy-template.ts) are checked at load: their syntax,
 * and the request with each template replaced by a sample that fits, so a
 * static mistake still stops the webhook at start-up. What the alert puts in
 * is checked per alert: the rendered request is validated with the
 * workflow's schema, and an alert whose request is invalid is refused.
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { DEFAULT_TASK_QUEUE } from '../common/switch/ids.js';
import { AddressSwitchInputSchema, validate, VipSwitchInputSchema, type Validation } from '../common/switch/input.js';
import { GATES } from '../common/switch/status.js';
import { DrainInputSchema, type DrainInput } from '../common/switch/drain.js';
import { invalid, parseYamlDocument } from '../common/yaml-document.js';
import {
  findTemplates,
  renderValue,
  SAMPLE_NUMBER,
  SAMPLE_STRING,
  sampleValue,
  shown,
  type AlertValues,
  type Template,
  type TemplateOrigin,
} from './policy-template.js';

/** A Prometheus label name. */
const labelName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'a label name: letters, digits and "_", not starting with a digit');

const RuleSchema = z
  .object({
    name: z.string().min(1),
    match: z.record(z.string(), z.string()).refine((m) => Object.keys(m).length > 0, 'match at least one label'),
    /** Labels the alert must have, with any (non-empty) value: typically those the rule's templates name. */
    require: z.array(labelName).default([]),
    /**
     * vip or address: a switch of one source; drain: every source that reads a host (switch: is then a drain request).
     */
    kind: z.enum(['vip', 'address', 'drain']),
    /** Gates that still need a human; merged with `switch.approvals.gates` (a gate named in either is kept). */
    gates: z.array(z.enum(GATES)).default([]),
    /**
     * Lets the rule's switches freeze DM with nobody approving (automatic failover). Without it, a switch
     * rule must wait at before-freeze and a drain rule at its plan: whoever can reach Alertmanager's API can
     * raise an alert with any labels.
     */
    unattended: z.boolean().default(false),
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
      .refine(
        (a) => a.bearerTokenEnv || a.bearerTokenFile || a.hmacSecretEnv || a.hmacSecretFile,
        'set a bearer token or an HMAC secret (…Env or …File): the webhook never runs unauthenticated',
      ),
    rules: z.array(RuleSchema).min(1, 'give at least one rule'),
    /** Serve HTTPS with this certificate (PEM files), for a webhook not behind a TLS proxy. */
    tls: z
      .object({ certFile: z.string().min(1), keyFile: z.string().min(1) })
      .strict()
      .optional(),
    limits: z
      .object({
        /** Requests handled at once; more get 503 with Retry-After (Alertmanager retries). */
        maxConcurrent: z.number().int().positive().default(4),
        /** An alert (fingerprint and startsAt) seen again within this many seconds starts no Temporal call. */
        repeatWindowSeconds: z.number().int().nonnegative().default(60),
        /** Signed requests: how far the timestamp may be from now, and how long a nonce is remembered. */
        signatureWindowSeconds: z.number().int().positive().max(3600).default(300),
        /** Switches (or drains) one rule may start within an hour; more are refused (429) until the hour has passed. */
        startsPerRulePerHour: z.number().int().positive().default(10),
        /** Alerts one request may carry; a larger payload is refused whole (413). */
        maxAlertsPerPayload: z.number().int().positive().default(100),
      })
      .strict()
      .default({
        maxConcurrent: 4,
        repeatWindowSeconds: 60,
        signatureWindowSeconds: 300,
        startsPerRulePerHour: 10,
        maxAlertsPerPayload: 100,
      }),
  })
  .strict();
export type Policy = z.infer<typeof PolicySchema>;
export type PolicyRule = Policy['rules'][number];

export class PolicyError extends Error {
  override readonly name = 'PolicyError';
}

/** Top-level keys of a switch request that no alert may fill in, and why. */
const NOT_TEMPLATED: Record<string, string> = {
  approvals:
    "the gates and their timeout are the rule's decision, never an alert's; name " +
    'them in the rule (gates:, switch.approvals)',
};

/** A switch request validated for its workflow (defaults filled in). */
export type RuleSwitchInput =
  z.output<typeof VipSwitchInputSchema> | z.output<typeof AddressSwitchInputSchema> | DrainInput;

function validateFor(kind: PolicyRule['kind'], raw: unknown): Validation<RuleSwitchInput> {
  if (kind === 'drain') return validate(DrainInputSchema, raw);
  return kind === 'vip' ? validate(VipSwitchInputSchema, raw) : validate(AddressSwitchInputSchema, raw);
}

/** The key a problem of validate(...) names ("oldInstance.port: …" → "oldInstance.port"). */
const problemKey = (problem: string) => problem.slice(0, Math.max(0, problem.indexOf(': ')));

/**
 * A problem found in a rule's request checked with samples: says so where the key is a template, and how a template
 * yields a number.
 */
function atLoad(problem: string, templates: Map<string, Template>): string {
  // validate() words a wrong type "expected number", or "required (number)" when zod leaves the input out of the issue
  const t = templates.get(problemKey(problem));
  if (!t) return problem;
  if (!t.numeric && /expected number|\(number\)$/.test(problem))
    return (
      `${problem} (a template yields a number only when it is the whole value and its ` +
      `last filter is "port" or "number", e.g. "{{ labels.instance | port }}")`
    );
  if (t.numeric && /expected string|\(string\)$/.test(problem))
    return (
      `${problem} (a value that is only a template ending in "| port" or "| number" is ` +
      `a number; this key takes text)`
    );
  return (
    `${problem} (this value is a template; at load it is checked with each template ` +
    `replaced by "${SAMPLE_STRING}", or ${SAMPLE_NUMBER} where it yields a number)`
  );
}

/**
 * Parses and validates a policy. A rule's switch request is checked at load as
 * far as it can be without an alert: its templates (syntax, roots, filters,
 * where they may be), then the request with each template replaced by a
 * sample that fits, against its workflow's input schema (unknown or missing
 * fields, static values, a template where a number belongs). What the labels
 * put in is checked per alert (ruleRequest).
 */
export function parsePolicy(text: string, origin = 'policy'): Policy {
  const policy = parseYamlDocument(PolicySchema, text, origin, (m) => new PolicyError(m));
  const problems: string[] = [];
  policy.rules.forEach((rule, i) => {
    const at = `rules.${i}.switch`;
    const { templates, problems: bad } = findTemplates(rule.switch, NOT_TEMPLATED);
    if (bad.length) {
      problems.push(...bad.map((p) => `${at}${p.path ? `.${p.path}` : ''}: ${p.message} (rule ${rule.name})`));
      return;
    }
    const r = validateFor(rule.kind, sampleValue(rule.switch));
    if (!r.ok) problems.push(...r.problems.map((p) => `${at}.${atLoad(p, templates)}`));
    const gates = ruleGates(rule);
    // a dry run changes nothing, whoever asks for it
    const dryRun =
      (rule.switch.options as { dryRun?: unknown } | undefined)?.dryRun === true || rule.switch.dryRun === true;
    const attended = dryRun || (rule.kind === 'drain' ? gates.length > 0 : gates.includes('before-freeze'));
    if (!attended && !rule.unattended) {
      problems.push(
        `rules.${i}.gates: rule ${rule.name} would ` +
          `${rule.kind === 'drain' ? 'drain a host' : 'freeze DM and switch'} with nobody approving: ` +
          (`anyone who can reach Alertmanager's API can raise an alert with any labels. Add ` +
            `${rule.kind === 'drain' ? 'a gate (its plan waits for one approval)' : 'before-freeze to gates'}, `) +
          'or say unattended: true if the rule must act alone (automatic failover)',
      );
    }
  });
  if (problems.length) throw new PolicyError(invalid(origin, problems));
  return policy;
}

export async function loadPolicy(path: string): Promise<Policy> {
  const text = await readFile(path, 'utf8').catch((e: Error) => {
    throw new PolicyError(
      `cannot read the webhook policy ${path}: ${e.message} (set DM_SWITCH_WEBHOOK_POLICY to its path)`,
    );
  });
  return parsePolicy(text, path);
}

/** The gates a rule's switches wait at: those of `gates` and those of `switch.approvals.gates`, in the gates' order. */
export function ruleGates(rule: PolicyRule): Array<(typeof GATES)[number]> {
  const inSwitch = ((rule.switch.approvals as { gates?: unknown } | undefined)?.gates ?? []) as string[];
  return GATES.filter((g) => rule.gates.includes(g) || inSwitch.includes(g));
}

/** The first rule whose every `match` label is equal and every `require` label present (not empty), or undefined. */
export function matchRule(policy: Policy, labels: Record<string, string>): PolicyRule | undefined {
  // own labels only: a label named "constructor" is not the object's
  const own = (k: string) => (Object.hasOwn(labels, k) ? labels[k] : undefined);
  // `?? []`: a policy object built in code, not by parsePolicy, may lack the default
  return policy.rules.find(
    (r) => Object.entries(r.match).every(([k, v]) => own(k) === v) && (r.require ?? []).every((k) => !!own(k)),
  );
}

export type RuleRequest =
  { ok: true; request: Record<string, unknown>; input: RuleSwitchInput } | { ok: false; reason: string };

function withOrigin(problem: string, origins: Map<string, TemplateOrigin[]>): string {
  const from = origins.get(problemKey(problem));
  return from ? `${problem} (from ${from.map((o) => `${o.text}: ${o.ref} is ${shown(o.value)}`).join('; ')})` : problem;
}

/**
 * The switch request `rule` makes for one alert: its templates rendered once
 * with the alert's labels and annotations, the rule's gates and the alert's
 * `requestedBy` and `reason` put in, and validated with the workflow's input
 * schema. A missing label, a value a filter cannot take, or an invalid result
 * gives a reason that names the rule, the key, and the label with its value.
 */
export function ruleRequest(
  rule: PolicyRule,
  alert: AlertValues,
  note: { requestedBy: string; reason: string },
): RuleRequest {
  const refuse = (lines: string[]): RuleRequest => ({
    ok: false,
    reason:
      `rule ${rule.name} makes no valid switch request from this alert, so nothing was ` +
      `started:\n${lines.map((l) => `  - ${l}`).join('\n')}\n` +
      "Fix the alert's labels, or the rule (its require: list keeps alerts without a label from matching it).",
  });
  const rendered = renderValue(rule.switch, alert);
  if (!rendered.ok) return refuse(rendered.problems.map((p) => `switch.${p.path}: ${p.message}`));
  const sw = rendered.value as Record<string, unknown>;
  const request: Record<string, unknown> =
    rule.kind === 'drain'
      ? // a drain has one gate, its plan: any gate the rule names makes it wait for that approval
        { ...sw, ...(rule.gates.length ? { approve: true } : {}), requestedBy: note.requestedBy, reason: note.reason }
      : {
          ...sw,
          // a gate named in the rule or in its switch request is kept: a rule never runs with fewer gates than it names
          approvals: { ...((sw.approvals as object | undefined) ?? {}), gates: ruleGates(rule) },
          requestedBy: note.requestedBy,
          reason: note.reason,
        };
  const v = validateFor(rule.kind, request);
  if (!v.ok) return refuse(v.problems.map((p) => `switch.${withOrigin(p, rendered.origins)}`));
  return { ok: true, request, input: v.value };
}
