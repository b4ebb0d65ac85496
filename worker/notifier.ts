/**
 * The notifier of the worker's configuration (`notify`), as the notify
 * activity uses it: its URL and bearer token read from the environment
 * variable or file named, each time a notification is sent (a rotated file
 * is picked up), like credentials. Checked once at start, so that a variable
 * that is not set or a file that cannot be read stops the worker with the
 * key, not the first notification of a switch that needs an operator.
 */
import { constants, accessSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { failure } from '../common/switch/errors.js';
import { NOTIFY_FAILED, type Notifier } from '../activities/notify.js';
import { ConfigError, notifyUrlProblem, type WorkerConfig } from './config.js';

type NotifyConfig = NonNullable<WorkerConfig['notify']>;

/** A secret (or the URL) from a variable or a file; `key` names it in messages, never its value. */
function reader(
  key: string,
  envName: string | undefined,
  file: string | undefined,
  env: NodeJS.ProcessEnv,
): (() => Promise<string>) | undefined {
  if (envName) {
    return async () => {
      const v = env[envName];
      if (!v) throw failure(`notify.${key}: environment variable ${envName} is not set on the worker`, NOTIFY_FAILED);
      return v.trim();
    };
  }
  if (file) {
    return async () => {
      try {
        return (await readFile(file, 'utf8')).trim();
      } catch (e) {
        throw failure(`notify.${key}: cannot read ${file}: ${(e as Error).message}`, NOTIFY_FAILED);
      }
    };
  }
  return undefined;
}

/** The start-up check of one variable or file: a ConfigError saying what to do. */
function checkSource(
  key: string,
  envName: string | undefined,
  file: string | undefined,
  env: NodeJS.ProcessEnv,
): string | null {
  if (envName && !env[envName]?.trim())
    return (
      `notify.${key}: environment variable ${envName} is not set on the worker; set ` +
      `it, or remove notify from the configuration`
    );
  if (file) {
    try {
      accessSync(file, constants.R_OK);
    } catch (e) {
      return (
        `notify.${key}: cannot read ${file} ` +
        `(${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); give a file the ` +
        `worker's user can read`
      );
    }
  }
  return null;
}

/** The notifier configured, or null; throws ConfigError when its URL or token cannot be had. */
export function notifierFromConfig(
  config: WorkerConfig['notify'],
  env: NodeJS.ProcessEnv = process.env,
): Notifier | null {
  if (!config) return null;
  const c: NotifyConfig = config;
  const withToken = Boolean(c.bearerTokenEnv || c.bearerTokenFile);
  const urlKey = c.urlEnv ? 'urlEnv' : c.urlFile ? 'urlFile' : 'url';
  const problems = [
    checkSource(urlKey, c.urlEnv, c.urlFile, env),
    checkSource(c.bearerTokenEnv ? 'bearerTokenEnv' : 'bearerTokenFile', c.bearerTokenEnv, c.bearerTokenFile, env),
  ].filter((p): p is string => p !== null);
  // a URL from a variable or a file is checked as an inline one is (without repeating it: it may be a secret)
  if (problems.length === 0 && urlKey !== 'url') {
    const url = c.urlEnv ? env[c.urlEnv]!.trim() : readFileSync(c.urlFile!, 'utf8').trim();
    const problem = notifyUrlProblem(url, withToken);
    if (problem) problems.push(`notify.${urlKey}: the URL in ${c.urlEnv ?? c.urlFile} ${problem}`);
  }
  if (problems.length) throw new ConfigError(problems.join('\n'));
  const fromSource = reader(urlKey, c.urlEnv, c.urlFile, env);
  const url = fromSource
    ? async () => {
        const u = await fromSource();
        const problem = notifyUrlProblem(u, withToken);
        if (problem) throw failure(`notify.${urlKey}: the URL in ${c.urlEnv ?? c.urlFile} ${problem}`, NOTIFY_FAILED);
        return u;
      }
    : async () => c.url!;
  const bearerToken = reader(
    c.bearerTokenEnv ? 'bearerTokenEnv' : 'bearerTokenFile',
    c.bearerTokenEnv,
    c.bearerTokenFile,
    env,
  );
  return { url, ...(bearerToken ? { bearerToken } : {}), format: c.format, timeoutMs: c.timeoutSeconds * 1000 };
}
