/**
 * Notifications: a generic webhook (one JSON POST) that tells someone a
 * switch waits at a gate or ended needs-operator, or that a drain's (or a
 * return's) plan waits for approval. The body has a
 * Slack-compatible `text` (one paragraph: what happened, where, what to do)
 * and the same facts as fields:
 *
 * - format `slack` (the default): `{ text, metadata: { event_type,
 *   event_payload } }`, the two keys a Slack incoming webhook documents
 *   (message metadata), so Slack posts `text` and keeps the fields; other
 *   receivers find them under `metadata.event_payload`. Slack's metadata
 *   values are scalars, so `operatorActions` is one string there, a line each.
 * - format `json`: `{ text, event, workflowId, …, operatorActions: […] }`,
 *   every field at the top level.
 *
 * A failed POST (no answer within the timeout, a network error, an answer
 * other than 2xx) is a retryable failure naming the status and the first
 * bytes of the answer; the workflow bounds the retries and records a warning
 * when they run out. No notifier configured: nothing is sent, no failure.
 * The URL's path and query are never put in a message: a Slack webhook URL
 * is itself a secret.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { NotifyEvent, NotifyResult } from '../common/switch/types.js';

export const NOTIFY_FAILED = 'NotifyFailed';

export type NotifyFormat = 'slack' | 'json';

export interface Notifier {
  /** The webhook's URL, read when a notification is sent. */
  url: () => Promise<string>;
  /** The bearer token, read when a notification is sent; none: no Authorization header. */
  bearerToken?: () => Promise<string>;
  format: NotifyFormat;
  timeoutMs: number;
}

/** Slack recommends keeping `text` under 4,000 characters. */
const MAX_TEXT = 4_000;
/** How much of a refusing answer goes into the failure. */
const ANSWER_BYTES = 512;

const KIND: Record<NotifyEvent['kind'], string> = {
  'vip-switch': 'VIP switch',
  'address-switch': 'address switch',
  drain: 'drain',
  return: 'return (undrain)',
};
const noStop = (s: string) => s.trim().replace(/[.;:\s]+$/, '');

/** The commands a person runs for this event (also given as fields). */
export function commandsOf(e: NotifyEvent): { approveCommand?: string; rejectCommand?: string; statusCommand: string } {
  const statusCommand = `dm-switch status ${e.workflowId}`;
  if (e.event !== 'awaiting-approval') return { statusCommand };
  return {
    approveCommand: `dm-switch approve ${e.workflowId} --gate ${e.gate}`,
    rejectCommand: `dm-switch reject ${e.workflowId} --gate ${e.gate} --comment "<why>"`,
    statusCommand,
  };
}

/** The one-paragraph message for people (plain text; `slack` escapes it). */
export function notificationText(e: NotifyEvent): string {
  const where = `Workflow ${e.workflowId} (run ${e.runId}); details: \`dm-switch status ${e.workflowId}\`.`;
  let text: string;
  if ('host' in e) {
    const c = commandsOf(e);
    text =
      `dm-switch: the ${KIND[e.kind]} of host ${e.host} waits for approval of its plan: ${noStop(e.summary)}. ` +
      'No source has been moved yet. ' +
      (`Approve with \`${c.approveCommand}\`, or reject with \`${c.rejectCommand}\`; a plan nobody ` +
        `decides by ${e.decideBy} is refused, and nothing changes. ${where}`);
    return cut(text, e.workflowId);
  }
  const what = `dm-switch: the ${KIND[e.kind]} of source ${e.sourceId} (DM cluster ${e.dmCluster})`;
  if (e.event === 'awaiting-approval') {
    const c = commandsOf(e);
    const state =
      e.gate === 'before-freeze'
        ? 'Nothing has been changed yet.'
        : 'Replication of this source is frozen while it waits.';
    text =
      `${what} waits for approval at gate ${e.gate}, before: ${noStop(e.summary)}. ${state} ` +
      (`Approve with \`${c.approveCommand}\`, or reject with \`${c.rejectCommand}\`; a ` +
        `gate nobody decides by ${e.decideBy} rejects. ${where}`);
  } else {
    const actions = e.operatorActions.length
      ? ` Run by hand: ${e.operatorActions.map((a, i) => `(${i + 1}) ${noStop(a)}`).join('; ')}.`
      : '';
    text = `${what} needs an operator: ${noStop(e.message)}.${actions} ${where}`;
  }
  return cut(text, e.workflowId);
}

const cut = (text: string, workflowId: string) =>
  text.length <= MAX_TEXT ? text : `${text.slice(0, MAX_TEXT - 60)}… (cut; see dm-switch status ${workflowId})`;

/** The event's fields as the body carries them (besides `text`). */
function fieldsOf(e: NotifyEvent): Record<string, string | string[]> {
  return { ...e, ...commandsOf(e) };
}

/** Slack's mrkdwn treats &, < and > as markup: escaped as Slack asks. */
const slackEscape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** The JSON body posted for `e` in `format`. */
export function notificationBody(e: NotifyEvent, format: NotifyFormat): Record<string, unknown> {
  const text = notificationText(e);
  const fields = fieldsOf(e);
  if (format === 'json') return { text, ...fields };
  const payload = Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, Array.isArray(v) ? v.join('\n') : v]));
  return {
    text: slackEscape(text),
    metadata: { event_type: `dm_switch_${e.event.replace(/-/g, '_')}`, event_payload: payload },
  };
}

/** scheme://host[:port] and "/…" for the rest: enough to know which endpoint, never its secret path. */
export function endpointOf(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname === '/' && !u.search ? '/' : '/…'}`;
  } catch {
    return '(not a URL)';
  }
}

/** The first bytes of an answer, whitespace folded; never reads more than that. */
async function firstBytes(res: Response): Promise<string> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let n = 0;
  try {
    while (n < ANSWER_BYTES) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      n += value.length;
    }
  } catch {
    // what arrived is enough to say why
  } finally {
    void reader.cancel().catch(() => undefined);
  }
  return Buffer.concat(chunks).subarray(0, ANSWER_BYTES).toString('utf8').replace(/\s+/g, ' ').trim();
}

export function createNotifyActivities(notifier: Notifier | null) {
  return {
    /**
     * POSTs one notification; {sent:false} without a notifier; a retryable failure when the receiver does not take it.
     */
    async notifySend(e: NotifyEvent): Promise<NotifyResult> {
      if (!notifier) return { sent: false, reason: 'no notifier configured' };
      const url = await notifier.url();
      const where = endpointOf(url);
      const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'dm-switch' };
      if (notifier.bearerToken) headers.authorization = `Bearer ${await notifier.bearerToken()}`;
      const cancelled = Context.current().cancellationSignal;
      const signal = AbortSignal.any([AbortSignal.timeout(notifier.timeoutMs), cancelled]);
      let res: Response;
      let answer = '';
      try {
        // no redirects: a webhook that moved is a configuration to fix, and the token goes to the URL given only
        res = await fetch(url, {
          method: 'POST',
          headers,
          body: JSON.stringify(notificationBody(e, notifier.format)),
          signal,
          redirect: 'manual',
        });
        if (res.status >= 200 && res.status < 300) await res.body?.cancel().catch(() => undefined);
        else answer = await firstBytes(res);
      } catch (err) {
        if (cancelled.aborted) throw err;
        const timedOut = err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');
        const why = timedOut
          ? `no answer within ${notifier.timeoutMs / 1000} s`
          : `${(err as Error).message}` +
            `${(err as { cause?: Error }).cause?.message ? ` (${(err as { cause: Error }).cause.message})` : ''}`;
        throw ApplicationFailure.retryable(`notifier ${where}: ${why}`, NOTIFY_FAILED);
      }
      if (res.status < 200 || res.status >= 300) {
        const moved =
          res.status >= 300 && res.status < 400 ? ' (redirects are not followed: give the URL it redirects to)' : '';
        throw ApplicationFailure.retryable(
          `notifier ${where} answered HTTP ` +
            `${res.status}${res.statusText ? ` ${res.statusText}` : ''}${moved}: ${answer || '(no body)'}`,
          NOTIFY_FAILED,
        );
      }
      return { sent: true, status: res.status };
    },
  };
}

export type NotifyActivities = ReturnType<typeof createNotifyActivities>;
