import { expect, test } from "bun:test";
import { parseJobId } from "./jobs.service.ts";

test("job ids are positive int8 in plain digits", () => {
  expect(parseJobId("1")).toBe("1");
  expect(parseJobId("9223372036854775807")).toBe("9223372036854775807");
  for (const bad of ["", "0", "-1", "01", "1e12", "abc", "1.0", " 1", "0x10", "9223372036854775808", "'; drop table x; --"]) {
    expect(() => parseJobId(bad)).toThrow(/not a job id/);
  }
});
