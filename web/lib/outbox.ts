// The reporter's outbox in IndexedDB: every recorded chunk, telemetry batch and "finish" waits
// here until the server has it, across network loss and page reloads. Entries are sent in the
// order they were written (autoincrement id).

export type OutboxEntry =
  | { id?: number; kind: "chunk"; streamId: string; seq: number; blob: Blob; type: string; start: number; createdAt: number }
  /** A CMAF stream's init segment (ftyp + moov): sent before any chunk of its stream. */
  | { id?: number; kind: "init"; streamId: string; blob: Blob; createdAt: number }
  | { id?: number; kind: "telemetry"; streamId: string; samples: TelemetrySample[]; createdAt: number }
  | { id?: number; kind: "finish"; streamId: string; createdAt: number };

export interface TelemetrySample {
  t: number;
  lat: number;
  lng: number;
  accuracy?: number;
  heading?: number;
  speed?: number;
}

const DB_NAME = "rter-reporter";
const STORE = "outbox";
const META = "meta";

function req<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

export class Outbox {
  private constructor(private readonly db: IDBDatabase) {}

  static open(): Promise<Outbox> {
    return new Promise((resolve, reject) => {
      const r = indexedDB.open(DB_NAME, 1);
      r.onupgradeneeded = () => {
        r.result.createObjectStore(STORE, { keyPath: "id", autoIncrement: true });
        r.result.createObjectStore(META);
      };
      r.onsuccess = () => resolve(new Outbox(r.result));
      r.onerror = () => reject(r.error);
    });
  }

  private tx(store: string, mode: IDBTransactionMode) {
    return this.db.transaction(store, mode).objectStore(store);
  }

  /** Resolves once the entry is committed: only then is a chunk considered safe. */
  async add(e: OutboxEntry): Promise<number> {
    const t = this.db.transaction(STORE, "readwrite");
    const id = await req(t.objectStore(STORE).add(e));
    await new Promise<void>((resolve, reject) => {
      t.oncomplete = () => resolve();
      t.onerror = () => reject(t.error);
      t.onabort = () => reject(t.error);
    });
    return id as number;
  }

  all(): Promise<OutboxEntry[]> {
    return req(this.tx(STORE, "readonly").getAll()) as Promise<OutboxEntry[]>;
  }

  async remove(id: number): Promise<void> {
    await req(this.tx(STORE, "readwrite").delete(id));
  }

  count(): Promise<number> {
    return req(this.tx(STORE, "readonly").count());
  }

  async getMeta<T>(key: string): Promise<T | undefined> {
    return (await req(this.tx(META, "readonly").get(key))) as T | undefined;
  }

  async setMeta(key: string, value: unknown): Promise<void> {
    await req(this.tx(META, "readwrite").put(value, key));
  }
}
