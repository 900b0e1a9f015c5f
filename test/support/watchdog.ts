/**
 * `bun test` runs no process 'exit' handlers, and a runner that is itself killed leaves its
 * children running. So a child that must not outlive us runs under a shell whose stdin is our
 * pipe: when this process dies for any reason the pipe reaches EOF and the child is SIGKILLed.
 * Once the child exits on its own the watcher is stopped, so it never signals a pid that may have
 * been reused. The shell prints the child's pid as the first line of its stdout and exits with
 * the child's code. With a log file ($1), the child's output is appended there.
 */
function script(toLog: boolean): string {
  return [
    ...(toLog ? ['log="$1"; shift'] : []),
    "exec 3<&0 </dev/null",
    `"$@" 3<&- ${toLog ? '>>"$log" 2>&1 ' : ""}&`,
    "child=$!",
    'echo "$child"',
    '( while IFS= read -r _; do :; done; kill -9 "$child" 2>/dev/null ) <&3 &',
    "watcher=$!",
    "exec 3<&-",
    'wait "$child"; code=$?',
    'kill "$watcher" 2>/dev/null',
    'exit "$code"',
  ].join("\n");
}

const WATCHDOG = script(false);
const WATCHDOG_TO_LOG = script(true);

/**
 * The command line that runs `argv` under the watchdog. Spawn it with stdin "pipe" and keep that
 * pipe open while the child may run; read the child's pid from the first line of stdout. Without
 * `logFile` the child's stdout follows the pid line and its stderr is the shell's.
 */
export function underWatchdog(argv: string[], logFile?: string): string[] {
  return logFile === undefined ? ["sh", "-c", WATCHDOG, "sh", ...argv] : ["sh", "-c", WATCHDOG_TO_LOG, "sh", logFile, ...argv];
}
