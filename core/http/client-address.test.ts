import { describe, expect, test } from "bun:test";
import { clientAddress, isTrusted, normalize } from "./client-address.ts";

describe("clientAddress", () => {
  test("the socket peer, unless it is a trusted proxy", () => {
    expect(clientAddress("203.0.113.9", "10.9.9.9", [])).toBe("203.0.113.9");
    expect(clientAddress("10.0.0.2", "198.51.100.7", ["10.0.0.0/8"])).toBe("198.51.100.7");
  });
  test("rightmost untrusted hop wins: a client cannot pick its own address", () => {
    expect(clientAddress("10.0.0.2", "1.1.1.1, 198.51.100.7", ["10.0.0.0/8"])).toBe("198.51.100.7");
    expect(clientAddress("10.0.0.2", "198.51.100.7, 10.0.0.3", ["10.0.0.0/8"])).toBe("198.51.100.7");
  });
  test("garbage in X-Forwarded-For stops the walk at the last good hop", () => {
    expect(clientAddress("127.0.0.1", "<script>, ' or 1=1", ["127.0.0.1"])).toBe("127.0.0.1");
    expect(clientAddress("::ffff:127.0.0.1", null, [])).toBe("127.0.0.1");
  });
  test("normalize and CIDR", () => {
    expect(normalize("::1")).toBe("::1");
    expect(normalize("999.1.1.1")).toBeNull();
    expect(normalize("a".repeat(60))).toBeNull();
    expect(isTrusted("192.168.1.77", ["192.168.1.0/24"])).toBe(true);
    expect(isTrusted("192.168.2.1", ["192.168.1.0/24"])).toBe(false);
    expect(isTrusted("8.8.8.8", ["0.0.0.0/0"])).toBe(true);
  });
});
