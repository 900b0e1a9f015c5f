import { createServer } from "node:net";

/** A TCP port free on 127.0.0.1 right now (the OS picks it; a tiny race remains until it is bound). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const addr = server.address();
      server.close(() => (addr && typeof addr === "object" ? resolve(addr.port) : reject(new Error("no port assigned"))));
    });
  });
}
