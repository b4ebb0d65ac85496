/**
 * The switches upsert their search attributes; on a namespace where they are
 * not registered every switch would fail its workflow tasks. The worker
 * checks at start and refuses with the command that registers them. Where the
 * check itself is not allowed (e.g. Temporal Cloud keys without operator
 * rights), it only warns.
 */
import { Connection, type ConnectionOptions } from '@temporalio/client';
import { SEARCH_ATTRIBUTES } from '../common/switch/search-attributes.js';

export type SearchAttributeCheck =
  { ok: true } | { ok: false; missing: string[]; fix: string } | { ok: 'unknown'; reason: string };

export async function checkSearchAttributes(
  options: ConnectionOptions,
  namespace: string,
): Promise<SearchAttributeCheck> {
  const connection = await Connection.connect(options);
  try {
    const r = await connection.operatorService.listSearchAttributes({ namespace });
    const have = new Set([...Object.keys(r.customAttributes ?? {}), ...Object.keys(r.systemAttributes ?? {})]);
    const missing = Object.keys(SEARCH_ATTRIBUTES).filter((n) => !have.has(n));
    if (missing.length === 0) return { ok: true };
    return {
      ok: false,
      missing,
      fix:
        `temporal operator search-attribute create --namespace ${namespace} ` +
        `${missing.map((n) => `--name ${n} --type Keyword`).join(' ')}`,
    };
  } catch (e) {
    return { ok: 'unknown', reason: (e as Error).message };
  } finally {
    await connection.close();
  }
}
