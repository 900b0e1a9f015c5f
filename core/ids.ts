const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Ids from URLs and payloads are checked before they reach a uuid column (Postgres would answer 500 to "abc"). */
export function isUuid(v: string): boolean {
  return UUID.test(v);
}
