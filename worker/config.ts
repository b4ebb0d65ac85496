/**
 * The worker's application configuration: DM clusters, credential
 * references and VIP providers, read once from a YAML file and validated at
 * start-up with messages that name the bad key. (The Temporal connection is
 * not here: it comes from @temporalio/envconfig — temporal.toml profiles and
 * TEMPORAL_* variables.)
 *
 *   taskQueue: dm-switch
 *   deployment: { name: dm-switch, buildId: "2026.12.1" }   # optional: versioned builds (docs/deploying.md)
 *   dm:
 *     clusters:
 *       default: { masterAddr: "127.0.0.1:8261", dmctl: /usr/local/bin/dmctl }
 *   credentials:
 *     dm-upstream: { user: dm, passwordEnv: DM_UPSTREAM_PASSWORD, hosts: ["*.db.example", 10.0.3.0/24] }
 *                  # or passwordFile: /run/secrets/…; tls: { caFile: … }; serverPublicKeyFile: …
 *   vip:
 *     providers:
 *       default: { type: command, locate: [/usr/local/bin/vip-locate], move: [/usr/local/bin/vip-move], check:
 * [/usr/local/bin/vip-check] }
 *   notify:                                  # optional: a webhook told when a switch waits at a gate or needs an
 * operator
 *     urlEnv: DM_SWITCH_NOTIFY_URL           # or urlFile: /run/secrets/…, or url: for an address that is no secret
 *     bearerTokenEnv: DM_SWITCH_NOTIFY_TOKEN # optional, or bearerTokenFile
 */
import { constants } from 'node:fs';
import { access, readFile, stat } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { z } from 'zod';
import { DEFAULT_TASK_QUEUE } from '../common/switch/ids.js';
import { parseYamlDocument } from '../common/yaml-document.js';
import { hostPatternProblem } from './host-binding.js';

const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name');

/**
 * What is wrong with a notifier URL, or null: http(s) only, no credentials in
 * it, and a bearer token only over https (or to a loopback address). Never
 * repeats the URL (a Slack webhook URL is a secret).
 */
export function notifyUrlProblem(url: string, withToken: boolean): string | null {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return "is not a URL; give the webhook's full address, e.g. https://hooks.example.com/…";
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') return `is a ${u.protocol} URL; give an http(s) one`;
  if (u.username || u.password)
    return (
      'carries credentials (user:password@); remove them and give a bearer token with ' +
      'bearerTokenEnv or bearerTokenFile'
    );
  const loopback = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/i.test(u.hostname);
  if (withToken && u.protocol === 'http:' && !loopback)
    return (
      `is http:// to ${u.host}: the bearer token would cross the network in clear; use ` +
      `https:// (http:// only to a loopback address)`
    );
  return null;
}

/**
 * The notifier (activities/notify.ts): one webhook, told when a switch waits
 * at a gate or ends needs-operator. Its URL and token, like passwords, come
 * from an environment variable or a file of the worker (a Slack webhook URL
 * is a secret); `url` inline is for an address that is none.
 */
const NotifySchema = z
  .object({
    url: z.string().min(1).optional(),
    /** Name of an environment variable of the worker holding the URL. */
    urlEnv: envName.optional(),
    /** File holding the URL (trailing newline ignored). */
    urlFile: z.string().min(1).optional(),
    /** Name of an environment variable of the worker holding a bearer token (sent as Authorization: Bearer …). */
    bearerTokenEnv: envName.optional(),
    /** File holding the bearer token (trailing newline ignored). */
    bearerTokenFile: z.string().min(1).optional(),
    /** Refused: a token in this file would be one more copy of it to guard. */
    bearerToken: z.unknown().optional(),
    /**
     * slack: { text, metadata: { event_type, event_payload } }; json: { text, …fields }
     * (docs/deploying.md, "Notifications").
     */
    format: z
      .enum(['slack', 'json'], {
        message:
          'slack (the default: text, and the fields as Slack message metadata) or json ' +
          '(text and the fields at the top level)',
      })
      .default('slack'),
    /** How long one POST may take; a failed one is retried (5 attempts within 2 minutes). */
    timeoutSeconds: z.number().int().min(1).max(30, 'at most 30 s (a POST is retried within 2 minutes)').default(10),
  })
  .strict()
  .superRefine((n, ctx) => {
    const urls = (['url', 'urlEnv', 'urlFile'] as const).filter((k) => n[k] !== undefined);
    if (urls.length === 0)
      ctx.addIssue({
        code: 'custom',
        message:
          "give the webhook's address: urlEnv (an environment variable of the worker) or " +
          'urlFile (a Slack webhook URL is a secret), or url for one that is not',
      });
    if (urls.length > 1)
      ctx.addIssue({ code: 'custom', message: `set one of url, urlEnv and urlFile, not ${urls.join(' and ')}` });
    if (n.bearerToken !== undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['bearerToken'],
        message:
          'never in the configuration: give the token with bearerTokenEnv (an environment ' +
          'variable of the worker) or bearerTokenFile',
      });
    if (n.bearerTokenEnv && n.bearerTokenFile)
      ctx.addIssue({ code: 'custom', message: 'set bearerTokenEnv or bearerTokenFile, not both' });
    const problem =
      n.url === undefined ? null : notifyUrlProblem(n.url, Boolean(n.bearerTokenEnv || n.bearerTokenFile));
    if (problem) ctx.addIssue({ code: 'custom', path: ['url'], message: problem });
  });

const argv = z.array(z.string().min(1)).min(1, 'give the command as a list: [program, arg, …]');

/** A host name, `*.domain`, an IPv4/IPv6 address or a CIDR (worker/credentials.ts matches them). */
const hostPattern = z.string().refine((h) => hostPatternProblem(h) === null, {
  error: (iss) => `${JSON.stringify(iss.input)}: ${hostPatternProblem(String(iss.input))}`,
});

export const WorkerConfigSchema = z
  .object({
    taskQueue: z.string().min(1).default(DEFAULT_TASK_QUEUE),
    /**
     * Worker Deployment Versioning: this worker is version `buildId` of
     * deployment `name`, and a switch stays on the version it started on
     * (pinned) until it ends. DM_SWITCH_BUILD_ID overrides `buildId`.
     */
    deployment: z
      .object({
        name: z
          .string()
          .min(1)
          .regex(/^[^.]+$/, 'a deployment name without "." (Temporal joins name and build ID with one)'),
        buildId: z.string().min(1).optional(),
      })
      .strict()
      .optional(),
    /**
     * Directory for the short-lived files that carry a password (worker/private-dir.ts); default
     * $XDG_RUNTIME_DIR/dm-switch or ~/.local/state/dm-switch/private.
     */
    privateDir: z.string().min(1).optional(),
    dm: z
      .object({
        clusters: z.record(
          z.string(),
          z
            .object({
              masterAddr: z
                .string()
                .regex(/^[^\s,]+(,[^\s,]+)*$/, 'host:port of dm-master, comma-separated for several'),
              dmctl: z.string().min(1),
              commandTimeoutMs: z.number().int().positive().optional(),
              /** The tasks' checkpoint-flush-interval, when not DM's default 30 s (activities/dm/positions.ts). */
              checkpointFlushSeconds: z.number().int().min(1).max(3600).optional(),
              /**
               * Per dm-worker name: the addresses MySQL sees its connections come from, when not its advertised host.
               */
              workerHosts: z.record(z.string(), z.array(z.string().min(1)).min(1)).optional(),
            })
            .strict(),
        ),
      })
      .strict(),
    credentials: z
      .record(
        z.string(),
        z
          .object({
            user: z.string().min(1),
            /** Name of an environment variable of the worker holding the password. */
            passwordEnv: z.string().min(1).optional(),
            /** File holding the password (trailing newline ignored). */
            passwordFile: z.string().min(1).optional(),
            /**
             * Where this credential may be sent: host names, `*.domain`, addresses and CIDRs. The worker
             * checks every connection (and every DM configuration it fills in) against it before connecting.
             */
            hosts: z.array(hostPattern).min(1, 'give at least one host name, address or CIDR').optional(),
            /** TLS to the servers of this credential, with the CA that signed their certificates. */
            tls: z
              .object({
                caFile: z.string().min(1),
                /** Check the certificate names the host connected to (default true). */
                verifyIdentity: z.boolean().default(true),
              })
              .strict()
              .optional(),
            /** The servers' RSA public key (PEM), for caching_sha2_password's full authentication without TLS. */
            serverPublicKeyFile: z.string().min(1).optional(),
            /**
             * Ask the server for its RSA key when neither TLS nor a pinned key is set (a fake server reads the
             * password).
             */
            allowPublicKeyRetrieval: z.boolean().default(false),
          })
          .strict()
          .superRefine((c, ctx) => {
            if (c.passwordEnv && c.passwordFile)
              ctx.addIssue({ code: 'custom', message: 'set passwordEnv or passwordFile, not both' });
            if (c.hosts === undefined) {
              ctx.addIssue({
                code: 'custom',
                path: ['hosts'],
                message:
                  'say where this credential may be sent: hosts: [host names, *.domain, addresses or CIDRs]; ' +
                  'the worker sends it nowhere else (a request or an alert could otherwise name any host)',
              });
            }
          }),
      )
      .default({}),
    vip: z
      .object({
        providers: z.record(
          z.string(),
          z.discriminatedUnion('type', [
            z
              .object({
                type: z.literal('command'),
                locate: argv,
                move: argv,
                /**
                 * Optional: says whether the VIP could be moved to a host (exit 0) or not (exit 1), for switches that
                 * choose among candidates.
                 */
                check: argv.optional(),
                /**
                 * Environment for the commands, besides PATH, the locale, HOME and the user; the worker's other
                 * variables are not passed.
                 */
                env: z.record(z.string(), z.string()).optional(),
                /** Names of the worker's environment variables the commands get as they are. */
                passEnv: z
                  .array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name'))
                  .optional(),
                timeoutMs: z.number().int().positive().optional(),
              })
              .strict(),
          ]),
        ),
      })
      .strict()
      .default({ providers: {} }),
    /** Optional: who is told when a switch waits at a gate or needs an operator. */
    notify: NotifySchema.optional(),
  })
  .strict();
export type WorkerConfig = z.infer<typeof WorkerConfigSchema>;

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Parses and validates YAML text; throws ConfigError listing every problem by key. */
export function parseWorkerConfig(text: string, origin = 'configuration'): WorkerConfig {
  return parseYamlDocument(WorkerConfigSchema, text, origin, (m) => new ConfigError(m));
}

export async function loadWorkerConfig(path: string): Promise<WorkerConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new ConfigError(
      `cannot read the worker configuration ${path}: ${(e as Error).message} (set DM_SWITCH_CONFIG to its path)`,
    );
  }
  return parseWorkerConfig(text, path);
}

/**
 * Where each DM cluster's dmctl is, as the worker would run it (a name
 * without "/" is looked up on PATH): a ConfigError naming the key and the
 * path when one is missing or not executable, so the worker does not start
 * and fail its first switch's first step instead.
 */
export async function checkDmctl(config: WorkerConfig, path = process.env.PATH ?? ''): Promise<void> {
  const problems: string[] = [];
  for (const [name, c] of Object.entries(config.dm.clusters)) {
    const candidates = c.dmctl.includes('/')
      ? [c.dmctl]
      : path
          .split(delimiter)
          .filter(Boolean)
          .map((dir) => join(dir, c.dmctl));
    const found = await firstExecutable(candidates);
    if (found) continue;
    const where = c.dmctl.includes('/') ? c.dmctl : `"${c.dmctl}" on PATH (${path || 'empty'})`;
    const why = c.dmctl.includes('/')
      ? await access(c.dmctl).then(
          () => 'is not executable',
          () => 'does not exist',
        )
      : 'is not found';
    problems.push(
      `dm.clusters.${name}.dmctl: ${where} ${why}; give the path of DM's dmctl binary (scripts/build-dm.sh builds one)`,
    );
  }
  if (problems.length) throw new ConfigError(problems.join('\n'));
}

async function firstExecutable(paths: string[]): Promise<string | null> {
  for (const p of paths) {
    const ok = await access(p, constants.X_OK).then(
      () => stat(p).then((st) => st.isFile()),
      () => false,
    );
    if (ok) return p;
  }
  return null;
}
