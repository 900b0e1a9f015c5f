import type { Kysely, Transaction } from "kysely";
import type { AuthUser } from "../auth/auth.service.ts";
import { requireRole } from "../auth/guards.ts";
import { audit } from "../audit/audit.service.ts";
import type { DB } from "../db/schema.ts";
import { AppError } from "../errors.ts";
import { publish } from "../events/events.service.ts";
import { lockStream } from "../streams/streams.repository.ts";
import { visibleStream } from "../streams/streams.service.ts";
import { deleteLockHeldBy, findLock, setLockHolder } from "./guidance.repository.ts";

/**
 * Direction lock: the operator guiding a reporter holds the stream's lock; guidance from anyone
 * else is refused (409 naming the holder) until they take it over explicitly, which is audited
 * and announced. No silent last-writer-wins between two operators.
 */
export interface LockView {
  stream_id: string;
  holder: { id: string; email: string } | null;
  taken_at: string | null;
}

function view(streamId: string, r: { holder_id: string; email: string; taken_at: Date | string } | undefined): LockView {
  return r
    ? { stream_id: streamId, holder: { id: r.holder_id, email: r.email }, taken_at: new Date(r.taken_at).toISOString() }
    : { stream_id: streamId, holder: null, taken_at: null };
}

export async function currentLock(db: Kysely<DB>, user: AuthUser, streamId: string): Promise<LockView> {
  const s = await visibleStream(db, user, streamId);
  return view(s.id, await findLock(db, s.id, false));
}

/**
 * Inside the caller's transaction: the caller holds the lock afterwards, or this throws 409
 * naming the holder. A free lock is taken on the way (guiding is what holds it).
 */
export async function holdLock(trx: Transaction<DB>, user: AuthUser, stream: { id: string; owner_id: string }): Promise<void> {
  // Serialise concurrent first takers on the stream row: the lock row may not exist yet.
  await lockStream(trx, stream.id);
  const cur = await findLock(trx, stream.id, true);
  if (cur?.holder_id === user.id) return;
  if (cur && !cur.disabled_at)
    throw new AppError("conflict", `${cur.email} is guiding this reporter; take over the direction lock first`, {
      detail: { holder: { id: cur.holder_id, email: cur.email } },
    });
  await upsertHolder(trx, user, stream, cur ? { id: cur.holder_id, email: cur.email } : null, false);
}

async function upsertHolder(
  trx: Transaction<DB>,
  user: AuthUser,
  stream: { id: string; owner_id: string },
  previous: { id: string; email: string } | null,
  takeover: boolean,
): Promise<LockView> {
  const takenAt = await setLockHolder(trx, stream.id, user.id);
  const out = view(stream.id, { holder_id: user.id, email: user.email, taken_at: takenAt });
  await publish(trx, { type: "guidance.locked", streamId: stream.id, ownerId: null, data: { holder: out.holder, previous, takeover, at: out.taken_at } });
  if (takeover) await audit(trx, { action: "guidance.lock_taken_over", targetType: "stream", targetId: stream.id, detail: { previous_holder: previous } });
  return out;
}

/** Take the lock: free or already mine → mine; held by another → 409 unless takeover is asked for. */
export async function takeLock(db: Kysely<DB>, user: AuthUser, streamId: string, opts: { takeover?: boolean }): Promise<LockView> {
  requireRole(user, "operator", "admin");
  const s = await visibleStream(db, user, streamId);
  return db.transaction().execute(async (trx) => {
    await lockStream(trx, s.id);
    const cur = await findLock(trx, s.id, true);
    if (cur?.holder_id === user.id) return view(s.id, cur);
    const heldByOther = !!cur && !cur.disabled_at;
    if (heldByOther && !opts.takeover)
      throw new AppError("conflict", `${cur!.email} holds the direction lock; ask to take it over`, {
        detail: { holder: { id: cur!.holder_id, email: cur!.email } },
      });
    return upsertHolder(trx, user, s, cur ? { id: cur.holder_id, email: cur.email } : null, heldByOther);
  });
}

/** The holder lets go (or nobody held it: nothing happens). Someone else's lock is not released here. */
export async function releaseLock(db: Kysely<DB>, user: AuthUser, streamId: string): Promise<void> {
  requireRole(user, "operator", "admin");
  const s = await visibleStream(db, user, streamId);
  await db.transaction().execute(async (trx) => {
    if (await deleteLockHeldBy(trx, s.id, user.id))
      await publish(trx, {
        type: "guidance.locked",
        streamId: s.id,
        ownerId: null,
        data: { holder: null, previous: { id: user.id, email: user.email }, takeover: false, at: new Date().toISOString() },
      });
  });
}
