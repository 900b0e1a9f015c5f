import { sql, type Kysely } from "kysely";

/** Thin queries over rate_counters (an unlogged table shared by every API node): `db` first, no rules. */

/**
 * Counts `n` requests against `key` in its fixed window of `w` seconds; the window boundaries come
 * from the database clock, so every node agrees. The bucket's hits after this, and the seconds
 * until its window ends.
 */
export async function countHits(db: Kysely<any>, key: string, w: number, n: number): Promise<{ hits: number; reset: number }> {
  const { rows } = await sql<{ hits: number; reset: number }>`
    insert into rate_counters as r (key, window_start, hits)
    values (${key}, to_timestamp(floor(extract(epoch from clock_timestamp()) / ${w}::int) * ${w}::int), ${n}::int)
    on conflict (key) do update set
      hits = case when r.window_start = excluded.window_start then r.hits + excluded.hits else excluded.hits end,
      window_start = excluded.window_start
    returning hits, extract(epoch from r.window_start + make_interval(secs => ${w}::int) - clock_timestamp())::float8 as reset`.execute(db);
  return rows[0]!;
}

/**
 * countHits for several distinct buckets in one statement (one round trip): the hits and reset
 * of each, in the order given.
 */
export async function countHitsMany(db: Kysely<any>, buckets: readonly { key: string; w: number; n: number }[]): Promise<{ hits: number; reset: number }[]> {
  const rows = sql.join(
    buckets.map((b) => sql`(${b.key}, to_timestamp(floor(extract(epoch from clock_timestamp()) / ${b.w}::int) * ${b.w}::int), ${b.n}::int, ${b.w}::int)`),
  );
  const { rows: out } = await sql<{ key: string; hits: number; reset: number }>`
    with b (key, window_start, hits, w) as (values ${rows})
    insert into rate_counters as r (key, window_start, hits)
    select key, window_start, hits from b
    on conflict (key) do update set
      hits = case when r.window_start = excluded.window_start then r.hits + excluded.hits else excluded.hits end,
      window_start = excluded.window_start
    returning r.key, r.hits, extract(epoch from r.window_start + make_interval(secs => (select w from b where b.key = r.key)) - clock_timestamp())::float8 as reset`.execute(
    db,
  );
  const byKey = new Map(out.map((r) => [r.key, r]));
  return buckets.map((b) => {
    const r = byKey.get(b.key)!;
    return { hits: Number(r.hits), reset: Number(r.reset) };
  });
}

/** Drops buckets silent for a day; how many went. */
export async function deleteStaleCounters(db: Kysely<any>): Promise<number> {
  const r = await sql`delete from rate_counters where window_start < now() - interval '1 day'`.execute(db);
  return Number(r.numAffectedRows ?? 0);
}

/** Buckets counting in the last minute, and accounts locked now (cluster-wide). */
export async function quotaCounts(db: Kysely<any>): Promise<{ active: number; locked: number }> {
  const { rows } = await sql<{ active: string; locked: string }>`
    select (select count(*) from rate_counters where window_start > now() - interval '1 minute') as active,
           (select count(*) from login_failures where locked_until > now()) as locked`.execute(db);
  return { active: Number(rows[0]!.active), locked: Number(rows[0]!.locked) };
}
