import type { Kysely } from "kysely";
import { audit } from "../audit/audit.service.ts";
import type { AuthUser } from "../auth/auth.service.ts";
import { requireWriter } from "../auth/guards.ts";
import type { DB } from "../db/schema.ts";
import { AppError } from "../errors.ts";
import { publish } from "../events/events.service.ts";
import { isUuid } from "../ids.ts";
import * as repo from "./comments.repository.ts";
import { visibleItem } from "./items.service.ts";

export function commentView(c: { id: string; item_id: string; body: string; created_at: Date | string; author_id: string; author_email: string }) {
  return { id: c.id, item_id: c.item_id, author: { id: c.author_id, email: c.author_email }, body: c.body, created_at: new Date(c.created_at).toISOString() };
}
export type CommentView = ReturnType<typeof commentView>;

/**
 * A remark on an item: whoever may see the item and write (its reporter, operators, admins).
 * The comment, its audit record (with the text) and its event commit together; the event goes
 * to everyone who sees the item (staff, and the item's reporter), live. Comments on held items
 * are allowed: they add to the record, they change nothing in it.
 */
export async function addComment(db: Kysely<DB>, user: AuthUser, itemId: string, text: string): Promise<CommentView> {
  requireWriter(user, "items");
  const item = await visibleItem(db, user, itemId);
  const body = text.trim();
  if (!body) throw new AppError("bad_request", "the comment is empty");
  return db.transaction().execute(async (trx) => {
    const c = await repo.insertComment(trx, { item_id: item.id, author_id: user.id, body });
    await audit(trx, { action: "item.commented", targetType: "item", targetId: item.id, detail: { comment_id: c.id, body } });
    await publish(trx, {
      type: "item.commented",
      streamId: item.stream_id,
      ownerId: item.author_id,
      data: { item_id: item.id, comment_id: c.id, body, by: user.email, created_at: new Date(c.created_at).toISOString() },
    });
    return commentView({ ...c, item_id: item.id, body, author_id: user.id, author_email: user.email });
  });
}

export async function listItemComments(db: Kysely<DB>, user: AuthUser, itemId: string, opts: { after?: string; limit?: number }): Promise<CommentView[]> {
  const item = await visibleItem(db, user, itemId);
  if (opts.after !== undefined && !(isUuid(opts.after) && (await repo.commentExists(db, item.id, opts.after))))
    throw new AppError("bad_request", "after is not a comment of this item");
  const rows = await repo.listComments(db, item.id, { after: opts.after, limit: opts.limit ?? 200 });
  return rows.map(commentView);
}
