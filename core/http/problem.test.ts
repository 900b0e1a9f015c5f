import { expect, test } from "bun:test";
import { AppError } from "../errors.ts";
import { problemResponse, toAppError } from "./problem.ts";

test("problem+json carries status, code, detail and Retry-After", async () => {
  const res = problemResponse(new AppError("unavailable", "storage down", { retryAfterSeconds: 7 }), "/api/x");
  expect(res.status).toBe(503);
  expect(res.headers.get("content-type")).toBe("application/problem+json");
  expect(res.headers.get("retry-after")).toBe("7");
  expect(await res.json()).toEqual({
    type: "https://rter.dev/problems/unavailable",
    title: "Service unavailable",
    status: 503,
    detail: "storage down",
    code: "unavailable",
    instance: "/api/x",
  });
});

test("dependency failures map to 503, everything unknown to a bare 500", () => {
  expect(toAppError(Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5432"), { code: "ECONNREFUSED" })).status).toBe(503);
  expect(toAppError(Object.assign(new Error("terminating connection due to administrator command"), { code: "57P01" })).status).toBe(503);
  expect(toAppError(new Error("timeout exceeded when trying to connect")).status).toBe(503);
  const internal = toAppError(new TypeError("x is undefined"));
  expect(internal.status).toBe(500);
  expect(internal.message).toBe("internal error");
});
