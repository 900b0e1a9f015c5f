import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { sql } from "kysely";
import type { Database } from "../../core/db/kysely.ts";
import { searchItems, type ItemSearch } from "../../core/items/search.repository.ts";
import { makeUser, migratedDatabase } from "../support/db.ts";

// The search query is shaped for plans (two branches, each limited; comments ordered by their copy
// of the item's created_at), not for reading. Here it must give exactly what the plain statement of
// the filters gives — every item matching all of them, by words in its title, body or any one
// comment, newest first by (created_at, id) — for random filters over seeded data with many equal
// created_at (keyset ties), followed page by page through the cursor.

let database: Database;
const reporters: { id: string; email: string }[] = [];
let tagId = "";
const NOW = Date.parse("2026-11-20T12:00:00Z");
const WORDS = ["flood", "fire", "smoke", "bridge", "water", "road", "closed", "tree", "power", "line"];

beforeAll(async () => {
  database = await migratedDatabase("search-equivalence");
  const db = database.db;
  const op = await makeUser(database, "op@eq.example", "operator");
  for (const n of [1, 2, 3]) reporters.push(await makeUser(database, `r${n}@eq.example`, "reporter"));
  await db.transaction().execute(async (trx) => {
    await sql`select setseed(0.17)`.execute(trx);
    // created_at on 300 slots 20 minutes apart (about 4 days): ten items share each one on average.
    await sql`
      insert into items (kind, author_id, title, body, lat, lng, created_at)
      select (array['text', 'photo', 'link'])[1 + (n % 3)], (${reporters.map((r) => r.id)}::uuid[])[1 + (n % 3)],
        w[1 + floor(random() * 10)::int] || ' ' || w[1 + floor(random() * 10)::int],
        w[1 + floor(random() * 10)::int] || ' ' || w[1 + floor(random() * 10)::int] || ' block ' || (n % 40),
        case when n % 7 = 0 then null else 45.40 + random() * 0.2 end, case when n % 7 = 0 then null else -73.70 + random() * 0.2 end,
        to_timestamp(${NOW / 1000} - floor(random() * 300) * 1200)
      from generate_series(1, 3000) n, (select ${WORDS}::text[] as w) words`.execute(trx);
    await sql`
      insert into item_comments (item_id, author_id, body)
      select id, ${op.id}::uuid, 'seen ' || (${WORDS}::text[])[1 + floor(random() * 10)::int] || ' ' || (${WORDS}::text[])[1 + floor(random() * 10)::int]
      from items tablesample bernoulli (30)`.execute(trx);
    await sql`insert into item_comments (item_id, author_id, body) select id, ${op.id}::uuid, 'again fire' from items tablesample bernoulli (5)`.execute(trx);
    // Most commented items get a second and third comment, so the comment branch's split (the
    // 200th comment in item order) often falls inside one item's comments.
    await sql`
      insert into item_comments (item_id, author_id, body)
      select item_id, ${op.id}::uuid, 'later ' || (${WORDS}::text[])[1 + floor(random() * 10)::int]
      from (select distinct item_id from item_comments) c, generate_series(1, 2) k where random() < 0.8`.execute(trx);
    tagId = (await sql<{ id: string }>`insert into tags (name, created_by) values ('eq-tag', ${op.id}) returning id`.execute(trx)).rows[0]!.id;
    await sql`insert into item_tags (item_id, tag_id, added_by, rank) select id, ${tagId}::uuid, ${op.id}, row_number() over () from items tablesample bernoulli (20)`.execute(
      trx,
    );
  });
  await sql`analyze`.execute(db);
}, 120_000);
afterAll(() => database?.close());

/** The filters written plainly: one WHERE, an OR over the item's words and any comment's. */
async function reference(f: ItemSearch): Promise<string[]> {
  const c = [sql`true`];
  if (f.q !== undefined)
    c.push(
      sql`(i.search @@ websearch_to_tsquery('simple', ${f.q}) or exists (select 1 from item_comments x where x.item_id = i.id and x.search @@ websearch_to_tsquery('simple', ${f.q})))`,
    );
  if (f.bbox) c.push(sql`i.lat >= ${f.bbox.south} and i.lat <= ${f.bbox.north} and i.lng >= ${f.bbox.west} and i.lng <= ${f.bbox.east}`);
  if (f.from) c.push(sql`i.created_at >= ${f.from}`);
  if (f.to) c.push(sql`i.created_at < ${f.to}`);
  if (f.reporterId) c.push(sql`i.author_id = ${f.reporterId}::uuid`);
  if (f.reporterEmail) c.push(sql`i.author_id in (select id from users where lower(email) = lower(${f.reporterEmail}))`);
  if (f.authorId) c.push(sql`i.author_id = ${f.authorId}::uuid`);
  if (f.kind) c.push(sql`i.kind = ${f.kind}`);
  if (f.tagId) c.push(sql`i.id in (select item_id from item_tags where tag_id = ${f.tagId}::uuid)`);
  const { rows } = await sql<{ id: string }>`select i.id from items i where ${sql.join(c, sql` and `)} order by i.created_at desc, i.id desc`.execute(
    database.db,
  );
  return rows.map((r) => r.id);
}

/** Deterministic pseudo-random numbers (mulberry32), so a failure names a case that can be rerun. */
function rng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const QUERIES = [
  "later fire",
  "later",
  "fire",
  "water",
  "power line",
  '"power line"',
  '"seen fire"',
  "fire -smoke",
  "flood or bridge",
  "block 7",
  "again",
  "nothingmatches",
  "tree closed road",
  "-fire",
];

function randomFilters(r: () => number): ItemSearch {
  const pick = <T>(xs: T[]) => xs[Math.floor(r() * xs.length)]!;
  const f: ItemSearch = { limit: 1 + Math.floor(r() * 40) };
  if (r() < 0.7) f.q = pick(QUERIES);
  if (r() < 0.3) {
    const south = 45.4 + r() * 0.15;
    const west = -73.7 + r() * 0.15;
    f.bbox = { south, north: south + 0.02 + r() * 0.1, west, east: west + 0.02 + r() * 0.1 };
  }
  if (r() < 0.3) f.from = new Date(NOW - Math.floor(r() * 5 * 24) * 3600_000);
  if (r() < 0.2) f.to = new Date(NOW - Math.floor(r() * 3 * 24) * 3600_000);
  if (r() < 0.15) f.reporterId = pick(reporters).id;
  else if (r() < 0.1) f.reporterEmail = pick(reporters).email.toUpperCase();
  if (r() < 0.15) f.authorId = pick(reporters).id;
  if (r() < 0.2) f.kind = pick(["text", "photo", "link", "stream"]);
  if (r() < 0.25) f.tagId = tagId;
  return f;
}

describe("search gives what the plain query gives", () => {
  test("comments carry their item's created_at, set on insert and kept when the item's changes", async () => {
    const db = database.db;
    const missing = await sql<{
      n: number;
    }>`select count(*)::int as n from item_comments c join items i on i.id = c.item_id where c.item_created_at is distinct from i.created_at`.execute(db);
    expect(missing.rows[0]!.n).toBe(0);
    const one = (await sql<{ id: string }>`select item_id as id from item_comments limit 1`.execute(db)).rows[0]!.id;
    await sql`update items set created_at = created_at - interval '1 microsecond' where id = ${one}`.execute(db);
    const after = await sql<{
      n: number;
    }>`select count(*)::int as n from item_comments c join items i on i.id = c.item_id where c.item_id = ${one} and c.item_created_at = i.created_at`.execute(
      db,
    );
    expect(after.rows[0]!.n).toBeGreaterThan(0);
    const stale = await sql<{
      n: number;
    }>`select count(*)::int as n from item_comments c join items i on i.id = c.item_id where c.item_created_at is distinct from i.created_at`.execute(db);
    expect(stale.rows[0]!.n).toBe(0);
  });

  test("tag memberships carry their item's created_at: set when tagged after creation, kept when the item's changes", async () => {
    const db = database.db;
    const stale = async () =>
      (
        await sql<{
          n: number;
        }>`select count(*)::int as n from item_tags m join items i on i.id = m.item_id where m.item_created_at is distinct from i.created_at`.execute(db)
      ).rows[0]!.n;
    expect(await stale()).toBe(0);
    // An old untagged item that matches a word, tagged now: the tag walk (item_tags in the search order) must find it.
    const item = (
      await sql<{
        id: string;
      }>`select id from items i where i.search @@ to_tsquery('simple', 'fire') and not exists (select 1 from item_tags m where m.item_id = i.id and m.tag_id = ${tagId}::uuid) order by created_at limit 1`.execute(
        db,
      )
    ).rows[0]!.id;
    await sql`insert into item_tags (item_id, tag_id, rank) values (${item}, ${tagId}::uuid, 1e9)`.execute(db);
    await sql`update items set created_at = created_at - interval '3 microseconds' where id = ${item}`.execute(db);
    expect(await stale()).toBe(0);
    const all: string[] = [];
    let before: ItemSearch["before"];
    for (let page = 0; page < 100; page++) {
      const rows = await searchItems(db, { q: "fire", tagId, limit: 40, before });
      all.push(...rows.map((r) => r.id));
      const last = rows[rows.length - 1];
      if (rows.length < 40 || !last) break;
      before = { createdUs: last.created_us, id: last.id };
    }
    expect(all).toContain(item);
    expect(all).toEqual(await reference({ q: "fire", tagId, limit: 40 }));
    // Untagged again: gone from the tag's results.
    await sql`delete from item_tags where item_id = ${item} and tag_id = ${tagId}::uuid`.execute(db);
    expect((await searchItems(db, { q: "fire", tagId, limit: 1000 })).map((r) => r.id)).not.toContain(item);
  });

  test("the seeded data has ties and matches of every kind", async () => {
    const ties = await sql<{ n: number }>`select count(*)::int as n from (select created_at from items group by created_at having count(*) > 1) t`.execute(
      database.db,
    );
    expect(ties.rows[0]!.n).toBeGreaterThan(250);
    expect((await reference({ q: '"seen fire"', limit: 1 })).length).toBeGreaterThan(0);
    expect((await reference({ q: "again", limit: 1 })).length).toBeGreaterThan(0);
  });

  test("120 random filter sets, every page through the cursor", async () => {
    const r = rng(20261128);
    for (let n = 0; n < 120; n++) {
      const f = randomFilters(r);
      const want = await reference(f);
      const got: string[] = [];
      let before: ItemSearch["before"];
      // Bounded: at most 6 pages per case, compared with the same prefix of the reference.
      for (let page = 0; page < 6; page++) {
        const rows = await searchItems(database.db, { ...f, before });
        got.push(...rows.map((x) => x.id));
        const last = rows[rows.length - 1];
        if (rows.length < f.limit || !last) break;
        before = { createdUs: last.created_us, id: last.id };
      }
      const label = `case ${n}: ${JSON.stringify(f)}`;
      expect(`${label} ${got.join(",")}`).toBe(`${label} ${want.slice(0, got.length).join(",")}`);
      // Short of six full pages, the search found everything the reference did.
      if (got.length < 6 * f.limit) expect(`${label} ${got.length}`).toBe(`${label} ${want.length}`);
    }
  }, 120_000);
});
