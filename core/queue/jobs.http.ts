import { Elysia } from "elysia";
import { requireRole } from "../auth/guards.ts";
import { requireUser } from "../auth/auth.http.ts";
import type { ApiContext } from "../runtime.ts";
import { FailedJobsPage, FailedJobsQuery, JobIdParams, JobView, NoBody, RetryAllResult } from "./jobs.model.ts";
import { listFailed, retryAllFailed, retryJob } from "./jobs.service.ts";

const tags = ["admin"];

/** The trouble queue: jobs that exhausted their attempts, listed and re-queued by admins. */
export function jobRoutes(rt: ApiContext) {
  const db = () => rt.database.db;
  return new Elysia({ prefix: "/api/v1/admin/jobs", name: "jobs" })
    .use(requireUser(rt))
    .get(
      "/failed",
      async ({ user, query }) => {
        requireRole(user, "admin");
        return listFailed(db(), { limit: query.limit, before: query.before });
      },
      {
        query: FailedJobsQuery,
        response: { 200: FailedJobsPage },
        detail: { tags, summary: "Permanently failed jobs (the trouble queue), newest first, paged by `before`" },
      },
    )
    .post(
      "/retry-all",
      async ({ user }) => {
        requireRole(user, "admin");
        return retryAllFailed(db());
      },
      { body: NoBody, response: { 200: RetryAllResult }, detail: { tags, summary: "Re-queue every permanently failed job (attempts reset, due now)" } },
    )
    .post(
      "/:id/retry",
      async ({ user, params }) => {
        requireRole(user, "admin");
        return retryJob(db(), params.id);
      },
      {
        params: JobIdParams,
        body: NoBody,
        response: { 200: JobView },
        detail: { tags, summary: "Re-queue one job (attempts reset, due now); 409 while it runs" },
      },
    );
}
