/**
 * The environment of the programs the worker runs (dmctl, VIP provider
 * commands): only what a program needs to run — PATH, the locale, the time
 * zone, HOME and the user — plus what the configuration names for it. Never
 * the worker's own secrets (the DM_*_PASSWORD variables behind credential
 * references, DM_SWITCH_CODEC_KEY, TEMPORAL_API_KEY, …): a provider script
 * that logs its environment, or a dmctl crash report, must not carry them.
 */
const BASE = ['PATH', 'HOME', 'USER', 'LOGNAME', 'LANG', 'LANGUAGE', 'TZ', 'TMPDIR'];

/** PATH, locale and the like from `from`, the variables named in `pass`, then `extra` on top. */
export function childEnv(
  extra: Record<string, string> = {},
  pass: string[] = [],
  from: NodeJS.ProcessEnv = process.env,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of [...BASE, ...Object.keys(from).filter((k) => k.startsWith('LC_')), ...pass]) {
    const v = from[k];
    if (v !== undefined) out[k] = v;
  }
  return { ...out, ...extra };
}
