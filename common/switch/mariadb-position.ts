/**
 * DM's MariaDB positions in the form the checks read. DM (go-mysql) keeps a
 * MariaDB GTID set per domain *and server id*: after a failover its
 * syncerBinlogGtid and checkpoint read `0-1-8,0-2-14` (the old primary's
 * last transaction and the new one's), which is no MariaDB position (one
 * GTID per domain) and which the position parser rejects, so every switch of
 * the source refused with "a GTID set could not be read". MariaDB itself
 * keeps one GTID per domain in a position (gtid_current_pos, gtid_slave_pos):
 * the domain's highest sequence number, which under gtid_strict_mode is also
 * the last one. Pure.
 */
import { parseMariadbBinlogState } from '../gtid/index.js';

/** A MariaDB GTID list with one entry per domain (its highest sequence number); anything else as it is. */
export function mariadbPosition(text: string): string {
  if (text.trim() === '' || text.includes(':')) return text;
  let entries;
  try {
    entries = parseMariadbBinlogState(text);
  } catch {
    return text;
  }
  const top = new Map<number, (typeof entries)[number]>();
  for (const g of entries) {
    const seen = top.get(g.domain);
    if (seen === undefined || g.seq > seen.seq) top.set(g.domain, g);
  }
  return [...top.values()]
    .sort((a, b) => a.domain - b.domain)
    .map((g) => `${g.domain}-${g.server}-${g.seq}`)
    .join(',');
}
