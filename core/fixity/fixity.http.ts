import { Elysia } from "elysia";
import { requireRole } from "../auth/guards.ts";
import { requireUser } from "../auth/auth.http.ts";
import type { ApiContext } from "../runtime.ts";
import { FixityAccepted, FixityFailuresPage, FixityFailuresQuery, FixityRequestBody } from "./fixity.model.ts";
import { listFixityFailures, requestFixityRun } from "./fixity.service.ts";

const tags = ["admin"];

/** Evidence integrity: start a fixity check now, and see the objects that failed one. */
export function fixityRoutes(rt: ApiContext) {
  const db = () => rt.database.db;
  return new Elysia({ prefix: "/api/v1/admin/fixity", name: "fixity" })
    .use(requireUser(rt))
    .post(
      "/",
      async ({ user, body, set }) => {
        requireRole(user, "admin");
        const { jobId } = await requestFixityRun(db(), { limit: body?.limit, after: body?.after });
        set.status = 202;
        return { job_id: jobId };
      },
      {
        body: FixityRequestBody,
        response: { 202: FixityAccepted },
        detail: { tags, summary: "Queue a fixity check of every stored object (runs on a batch worker)" },
      },
    )
    .get(
      "/failures",
      async ({ user, query }) => {
        requireRole(user, "admin");
        return listFixityFailures(db(), { all: query.state === "all", limit: query.limit, before: query.before });
      },
      {
        query: FixityFailuresQuery,
        response: { 200: FixityFailuresPage },
        detail: { tags, summary: "Objects whose bytes no longer match their recorded SHA-256, or are gone (open ones unless state=all)" },
      },
    );
}
