/**
 * WAL per turn (PostgreSQL): one more looping session; `pg_current_wal_lsn()` read (from the model,
 * before it answers) at the start and end of each window; bytes ÷ WINDOW. The LSN is cluster-wide:
 * other client connections are counted, and with pg_walinspect each window's records are split into
 * this benchmark's schema and everything else.
 */
import type pg from 'pg';
import { integer } from '../lib/stats.ts';
import { APP_NAME, loopSession, type AgentIds, type BackendName, type Server } from './harness.ts';
import type { BenchModel } from './model.ts';
import { bytes, Table, TARGETS } from './table.ts';
import { LOOP_TOOL_CALLS, POSITIONS, WINDOW } from './turns.ts';

interface WalWindow {
  position: number;
  bytes: number;
  startLsn: string;
  endLsn: string;
  /** Other client connections (not this run's) seen at the window's start and end: connected / active. */
  others: string;
}

/** One looping session; the LSN read at the start and end of each window (PostgreSQL only). */
async function measureWal(server: Server, model: BenchModel, ids: AgentIds, monitor: pg.Client): Promise<WalWindow[]> {
  const lsnAt = new Map<number, { lsn: string; others: string }>();
  const probeAt = new Set(POSITIONS.flatMap((position) => [position, position + WINDOW]));
  const probe = async (index: number) => {
    const { rows } = await monitor.query<{ lsn: string; connected: string; active: string }>(
      `SELECT pg_current_wal_lsn()::text AS lsn,
              (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND application_name IS DISTINCT FROM $1) AS connected,
              (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND application_name IS DISTINCT FROM $1 AND state = 'active') AS active`,
      [APP_NAME],
    );
    lsnAt.set(index, { lsn: rows[0]!.lsn, others: `${rows[0]!.connected}/${rows[0]!.active}` });
  };
  await loopSession(server, model, ids, 'wal', LOOP_TOOL_CALLS, (index) => (probeAt.has(index) ? probe(index) : undefined));
  const windows: WalWindow[] = [];
  for (const position of POSITIONS) {
    const start = lsnAt.get(position)!;
    const end = lsnAt.get(position + WINDOW)!;
    const { rows } = await monitor.query<{ bytes: string }>('SELECT pg_wal_lsn_diff($1, $2)::text AS bytes', [end.lsn, start.lsn]);
    windows.push({ position, bytes: Number(rows[0]!.bytes), startLsn: start.lsn, endLsn: end.lsn, others: `${start.others} → ${end.others}` });
  }
  return windows;
}

/** Where a window's WAL went, from pg_walinspect's records: this run's schema by relation, or other. */
interface WalBreakdown {
  /** Record bytes (incl. full-page images) per part, largest first. */
  parts: [string, number][];
  /** Records on this run's relations, and the commit records of their transactions. */
  ours: number;
  /**
   * Commit records of transactions that wrote no relation: PostgreSQL gives a transaction that
   * runs `pg_notify` an xid, so its commit is logged (and flushed). The session log's NOTIFYs are
   * these; another connection's would be too.
   */
  tableless: number;
  /** Everything else: other databases and schemas, checkpoints, running-xacts snapshots. */
  others: number;
  fpi: number;
  records: number;
}

/** pg_walinspect in the benchmark's schema (dropped with it), or where it already is; undefined when unavailable. */
async function walinspect(monitor: pg.Client, schema: string): Promise<string | undefined> {
  try {
    await monitor.query(`CREATE EXTENSION IF NOT EXISTS pg_walinspect SCHEMA ${schema}`);
    const { rows } = await monitor.query<{ nspname: string }>(
      `SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_walinspect'`,
    );
    return rows[0]?.nspname;
  } catch (error) {
    console.error(`  pg_walinspect unavailable (${(error as Error).message}): no WAL breakdown`);
    return undefined;
  }
}

async function walBreakdown(monitor: pg.Client, inspectSchema: string, schema: string, window: WalWindow): Promise<WalBreakdown> {
  // Our relations by file node: tables, indexes, and their TOAST tables and indexes.
  const relations = await monitor.query<{ node: string; name: string }>(
    `SELECT pg_relation_filenode(c.oid)::text AS node, c.relname AS name FROM pg_class c
      WHERE c.relnamespace = $1::regnamespace AND pg_relation_filenode(c.oid) IS NOT NULL
     UNION ALL
     SELECT pg_relation_filenode(t.oid)::text, 'TOAST of ' || c.relname FROM pg_class c JOIN pg_class t ON t.oid = c.reltoastrelid
      WHERE c.relnamespace = $1::regnamespace
     UNION ALL
     SELECT pg_relation_filenode(i.indexrelid)::text, 'TOAST index of ' || c.relname FROM pg_class c JOIN pg_index i ON i.indrelid = c.reltoastrelid
      WHERE c.relnamespace = $1::regnamespace`,
    [schema],
  );
  const ours = new Map(relations.rows.map((row) => [row.node, row.name]));
  const { rows } = await monitor.query<{ xid: string; rmgr: string; type: string; length: number; fpi: number; refs: string | null }>(
    `SELECT xid::text AS xid, resource_manager AS rmgr, record_type AS type, record_length AS length, fpi_length AS fpi, block_ref AS refs
       FROM ${inspectSchema}.pg_get_wal_records_info($1, $2)`,
    [window.startLsn, window.endLsn],
  );
  const nodesOf = (refs: string | null) => [...(refs ?? '').matchAll(/rel \d+\/\d+\/(\d+)/g)].map((match) => match[1]!);
  const ourXids = new Set(rows.filter((row) => row.xid !== '0' && nodesOf(row.refs).some((node) => ours.has(node))).map((row) => row.xid));
  const parts = new Map<string, number>();
  let mine = 0;
  let tableless = 0;
  let others = 0;
  let fpi = 0;
  for (const row of rows) {
    const relation = nodesOf(row.refs).find((node) => ours.has(node));
    let part: string;
    if (relation || ourXids.has(row.xid)) {
      part = relation ? ours.get(relation)! : `${row.rmgr} ${row.type}`;
      mine += row.length;
    } else if (row.rmgr === 'Transaction' && row.type === 'COMMIT' && row.xid !== '0' && !row.refs) {
      part = 'commits writing no table (pg_notify)';
      tableless += row.length;
    } else {
      part = `other: ${row.rmgr} ${row.type}`;
      others += row.length;
    }
    fpi += row.fpi;
    parts.set(part, (parts.get(part) ?? 0) + row.length);
  }
  return { parts: [...parts].sort((a, b) => b[1] - a[1]), ours: mine, tableless, others, fpi, records: rows.length };
}

export const walTable = () =>
  new Table(
    'PostgreSQL WAL per turn',
    `one more looping session; pg_current_wal_lsn() read before the model answers the first and the last call of each ${WINDOW}-turn window, ` +
      `pg_wal_lsn_diff ÷ ${WINDOW}. The LSN is cluster-wide: "other connections" counts client backends not of this run (connected/active) at the window's start and end, ` +
      `and pg_walinspect splits the window's records into this run's schema (its tables and indexes, and its transactions' commit records), ` +
      `commit records of transactions that wrote no table (pg_notify gives a transaction an xid), and everything else.`,
  );

/** Measures WAL per turn on a PostgreSQL server (`monitor`: a connection of its own, `schema`: the server's) into `wal` and `notes`. */
export async function runWal(wal: Table, notes: string[], name: BackendName, server: Server, model: BenchModel, ids: AgentIds, monitor: pg.Client, schema: string) {
  const inspect = await walinspect(monitor, schema);
  const windows = await measureWal(server, model, ids, monitor);
  const perTurn = windows.map((window) => window.bytes / WINDOW);
  for (const [index, window] of windows.entries()) {
    const value = perTurn[index]!;
    wal.record(`WAL per turn after ${window.position} prior turns (LSN diff ÷ ${WINDOW})`, name, bytes(value), { target: TARGETS.walPerTurn, value });
    wal.record(`after ${window.position}: other connections (connected/active), start → end`, name, window.others);
    if (inspect) {
      const breakdown = await walBreakdown(monitor, inspect, schema, window);
      const perTurnOf = (value: number) => integer(value / WINDOW);
      wal.record(
        `after ${window.position}, per turn: records of this run's tables and their commits; commits writing no table (pg_notify); anything else; of all these, full-page images`,
        name,
        `${perTurnOf(breakdown.ours)} B; ${perTurnOf(breakdown.tableless)} B; ${perTurnOf(breakdown.others)} B; ${perTurnOf(breakdown.fpi)} B`,
      );
      notes.push(
        `WAL after ${window.position} prior turns, per turn by part: ` +
          breakdown.parts.map(([part, size]) => `${part} ${integer(size / WINDOW)} B`).join(', ') +
          ` (${breakdown.records} records in ${WINDOW} turns; record bytes exclude page headers and alignment, so they sum to a little less than the LSN diff)`,
      );
    }
  }
  const spread = Math.max(...perTurn) / Math.min(...perTurn);
  wal.record('largest ÷ smallest of the three', name, `${spread.toFixed(2)}×`, { target: TARGETS.walConstant, value: spread });
  process.stderr.write(`  ${name}: WAL done\n`);
}
