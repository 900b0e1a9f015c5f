import { describe, expect, test } from "bun:test";
import { passwordProblem } from "./password-policy.ts";

describe("password rules", () => {
  test.each([
    ["short", "too short"],
    ["eleven char", "too short"],
    ["123456789012", "common (in the shipped list)"],
    ["qwertyuiopasdf", "a keyboard run"],
    ["1qaz2wsx3edc", "common"],
    ["Password2024!", "common password with digits and a symbol"],
    ["!!!Dragon123456", "common password dressed up"],
    ["P a s s w o r d 1", "spaces between a common password's letters"],
    ["pass-word-1234", "common with dashes"],
    ["P@ssw0rd2024!", "look-alike digits"],
    ["m0nk3y-m0nk3y!", "look-alike digits with a separator"],
    ["abcabcabcabcabc", "a short piece repeated"],
    ["zzzzzzzzzzzzzzzz", "one character repeated"],
    ["passwordpassword", "a common word repeated"],
    ["9876543210987", "a run of digits backwards"],
    ["x".repeat(1025), "too long"],
    ["good words\u0000hidden", "a control character"],
    ["Jane.Doe2024!!!", "the account's name dressed up"],
    ["jane.doe@city.example", "the account's address"],
  ])("%p is refused (%s)", (pw) => {
    expect(passwordProblem(pw, { email: "jane.doe@city.example" })).not.toBeNull();
  });

  test.each([["correct horse battery staple"], ["long enough pw"], ["Vélo rouge sous la pluie"], ["🚒🚒 fire truck at dawn"], ["x7#kQ9!mZ2@pL4"]])(
    "%p is accepted",
    (pw) => {
      expect(passwordProblem(pw, { email: "jane.doe@city.example" })).toBeNull();
    },
  );

  test("a passphrase that merely contains the name is fine", () => {
    expect(passwordProblem("drain-drill-pw", { email: "drill@city.example" })).toBeNull();
  });

  test("the new password must differ from the current one", () => {
    expect(passwordProblem("correct horse battery staple", { current: "correct horse battery staple" })).toContain("current");
  });

  test("length counts characters, not UTF-16 units: six emoji are too short", () => {
    expect(passwordProblem("🚒🚒🚒🚒🚒🚒")).toContain("at least 12");
  });
});
