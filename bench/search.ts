// Search and timeline at incident scale: 100k items (1k of them streams, with a minute of
// segments each), 20k comments, over a month. Item search (full text over titles, bodies and
// comments, map bounds, time, reporter, kind, tag, keyset pages) and timeline pages (50 lanes of a
// day) through the same service functions the API calls, one query at a time: p50/p95/p99 per
// query shape. RTER_BENCH_SEARCH_ITEMS sets the item count.
import { sql, type Kysely } from "kysely";
import type { DB } from "../core/db/schema.ts";
import type { AuthUser } from "../core/auth/auth.service.ts";
import { addUser } from "../core/auth/auth.service.ts";
import { openDatabase } from "../core/db/kysely.ts";
import { migrateToLatest } from "../core/db/migrate.ts";
import { searchVisibleItems, type SearchQuery } from "../core/items/search.service.ts";
import { createLogger } from "../core/log.ts";
import { timeline } from "../core/timeline/timeline.service.ts";
import { fmt, pct, table, testDatabaseUrl, type Figure } from "./lib.ts";

const ITEMS = Number(process.env.RTER_BENCH_SEARCH_ITEMS ?? 100_000);
const STREAMS = Math.min(1000, Math.floor(ITEMS / 100));
const SEGMENTS_PER_STREAM = 60;
const COMMENTS = Math.floor(ITEMS / 5);
const RUNS = 200;
const DAY = 24 * 3600_000;

const WORDS = [
  "flood",
  "fire",
  "smoke",
  "bridge",
  "water",
  "road",
  "closed",
  "tree",
  "down",
  "power",
  "line",
  "crowd",
  "police",
  "ambulance",
  "collapse",
  "building",
  "gas",
  "leak",
  "river",
  "school",
];

/** Deterministic data, made in the database (no round trip per row). */
export async function seed(db: Kysely<DB>, operatorId: string, reporters: string[], now: number): Promise<void> {
  // One transaction, so one connection: setseed holds for every statement after it.
  await db.transaction().execute(async (db) => {
    await sql`select setseed(0.42)`.execute(db);
    await sql`
    insert into streams (owner_id, title, state, created_at, finished_at)
    select (${reporters}::uuid[])[1 + (n % 4)], 'stream ' || n, 'finished',
      to_timestamp(${now / 1000} - (n * 2592000.0 / ${STREAMS})), to_timestamp(${now / 1000} - (n * 2592000.0 / ${STREAMS}) + 60)
    from generate_series(1, ${STREAMS}) n`.execute(db);
    await sql`
    insert into segments (stream_id, seq, object_key, sha256, size, duration, start_offset, program_date_time, remuxed)
    select s.id, k, 'bench/' || s.id || '/' || k, repeat('0', 64), 1000, 1.0, k,
      s.created_at + make_interval(secs => k + case when k >= 30 then 5 else 0 end), false
    from streams s, generate_series(0, ${SEGMENTS_PER_STREAM - 1}) k`.execute(db);
    await sql`
    insert into items (kind, author_id, title, body, lat, lng, created_at)
    select (array['text', 'photo', 'link', 'text'])[1 + (n % 4)], (${reporters}::uuid[])[1 + (n % 4)],
      w[1 + floor(random() * 20)::int] || ' ' || w[1 + floor(random() * 20)::int] || ' at ' || n,
      w[1 + floor(random() * 20)::int] || ' ' || w[1 + floor(random() * 20)::int] || ' ' || w[1 + floor(random() * 20)::int] || ' near block ' || (n % 500),
      45.40 + random() * 0.25, -73.75 + random() * 0.30,
      to_timestamp(${now / 1000} - random() * 2592000)
    from generate_series(1, ${ITEMS - STREAMS}) n, (select ${WORDS}::text[] as w) words`.execute(db);
    await sql`
    insert into item_comments (item_id, author_id, body)
    select id, ${operatorId}::uuid, 'checked: ' || (${WORDS}::text[])[1 + floor(random() * 20)::int] || ' confirmed'
    from items tablesample bernoulli (20) limit ${COMMENTS}`.execute(db);
    await sql`insert into tags (name, created_by) values ('incident-7', ${operatorId})`.execute(db);
    await sql`
    insert into item_tags (item_id, tag_id, added_by, rank)
    select id, (select id from tags where name = 'incident-7'), ${operatorId}, row_number() over ()
    from items tablesample bernoulli (10)`.execute(db);
  });
  // Steady state, as autovacuum keeps a live database: statistics and the visibility map.
  await sql`vacuum analyze`.execute(db);
}

export async function run(): Promise<Figure[]> {
  const url = await testDatabaseUrl();
  const log = createLogger("error");
  const database = openDatabase({ url, poolMax: 4, statementTimeoutMs: 120_000, connectTimeoutMs: 10_000, applicationName: "bench-search" }, log);
  const figures: Figure[] = [];
  try {
    await migrateToLatest(database, url, log);
    const db = database.db;
    const users: AuthUser[] = [];
    for (const [email, role] of [
      ["op@bench", "operator"],
      ["r1@bench", "reporter"],
      ["r2@bench", "reporter"],
      ["r3@bench", "reporter"],
      ["r4@bench", "reporter"],
    ] as const) {
      users.push((await addUser(db, { email, role, password: "long enough pw" })).user);
    }
    const operator = users[0]!;
    const now = Date.now();
    const t0 = performance.now();
    await seed(
      db,
      operator.id,
      users.slice(1).map((u) => u.id),
      now,
    );
    const counts = (
      await sql<{
        items: string;
        comments: string;
        segments: string;
      }>`select (select count(*) from items) as items, (select count(*) from item_comments) as comments, (select count(*) from segments) as segments`.execute(
        db,
      )
    ).rows[0]!;
    console.log(
      `made ${counts.items} items (${STREAMS} streams, ${counts.segments} segments), ${counts.comments} comments in ${fmt((performance.now() - t0) / 1000)} s`,
    );

    const viewport = "-73.60,45.48,-73.55,45.52"; // a downtown screen of the console's map
    const week = { from: new Date(now - 7 * DAY).toISOString(), to: new Date(now).toISOString() };
    const firstPage = await searchVisibleItems(db, operator, { q: "water", limit: 50 });
    const shapes: [string, AuthUser, SearchQuery][] = [
      ["q=one common word", operator, { q: "water", limit: 50 }],
      ["q=two words (AND)", operator, { q: "gas leak", limit: 50 }],
      ["q=phrase", operator, { q: '"power line"', limit: 50 }],
      ["q=rare (a block number)", operator, { q: "block 417", limit: 50 }],
      ["bbox (downtown view)", operator, { bbox: viewport, limit: 50 }],
      ["q + bbox + week", operator, { q: "fire", bbox: viewport, ...week, limit: 50 }],
      ["reporter + kind", operator, { reporter: "r2@bench", kind: "photo", limit: 50 }],
      ["tag + q", operator, { tag: "incident-7", q: "smoke", limit: 50 }],
      ["q, page 2 (cursor)", operator, { q: "water", limit: 50, cursor: firstPage.next_cursor ?? undefined }],
      ["reporter's own, q", users[1]!, { q: "water", limit: 50 }],
    ];
    const rows: (string | number)[][] = [];
    for (const [label, user, query] of shapes) {
      const lat: number[] = [];
      let n = 0;
      for (let i = 0; i < RUNS; i++) {
        const t = performance.now();
        n = (await searchVisibleItems(db, user, query)).items.length;
        lat.push(performance.now() - t);
      }
      rows.push([label, n, fmt(pct(lat, 50), 2), fmt(pct(lat, 95), 2), fmt(pct(lat, 99), 2)]);
      figures.push({ bench: "search", what: `${label}: p95`, value: fmt(pct(lat, 95), 2), unit: "ms" });
    }

    // Timeline: every page of 50 lanes over the busiest day, and one over a week.
    for (const [label, from, to] of [
      ["timeline, 1 day, 50 lanes/page", now - DAY - 120_000, now],
      ["timeline, 7 days, 50 lanes/page", now - 7 * DAY, now],
    ] as const) {
      const lat: number[] = [];
      let lanes = 0;
      let pages = 0;
      for (let i = 0; i < Math.ceil(RUNS / 10); i++) {
        let cursor: string | undefined;
        lanes = 0;
        pages = 0;
        do {
          const t = performance.now();
          const page = await timeline(db, operator, { from: new Date(from).toISOString(), to: new Date(to).toISOString(), limit: 50, cursor });
          lat.push(performance.now() - t);
          lanes += page.lanes.length;
          pages++;
          cursor = page.next_cursor ?? undefined;
        } while (cursor);
      }
      rows.push([`${label} (${pages} pages)`, lanes, fmt(pct(lat, 50), 2), fmt(pct(lat, 95), 2), fmt(pct(lat, 99), 2)]);
      figures.push({ bench: "search", what: `${label}: p95 per page`, value: fmt(pct(lat, 95), 2), unit: "ms" });
    }
    table(["query", "results", "p50 ms", "p95 ms", "p99 ms"], rows);
  } finally {
    await database.close();
  }
  return figures;
}
