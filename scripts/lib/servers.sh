# Sourced by the scripts that start local servers (interop.sh, browser-test.sh, deflate-bench.sh): what they
# start is stopped on exit, and ports are found and waited for with bounded polls (no sleeps as
# synchronisation). Append each server's pid to PIDS; set WORK to a scratch directory to have it removed.
# free_port and wait_port need PY, a Python 3 interpreter.

PIDS=()
stop_servers() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [ -n "${WORK:-}" ]; then rm -rf "$WORK"; fi
}
trap stop_servers EXIT
trap 'exit 130' INT TERM

# A port the OS has free on 127.0.0.1 right now.
free_port() {
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_port PORT PID: until 127.0.0.1:PORT accepts connections, for at most 10 s; fails if PID exited.
wait_port() {
    "$PY" - "$1" "$2" <<'PYTHON'
import os, socket, sys, time
port, pid = int(sys.argv[1]), int(sys.argv[2])
deadline = time.monotonic() + 10
while True:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        break
    except OSError:
        try:
            os.kill(pid, 0)
        except OSError:
            sys.exit(f"server {pid} exited before listening on {port}")
        if time.monotonic() > deadline:
            sys.exit(f"nothing listening on 127.0.0.1:{port} after 10 s")
        time.sleep(0.05)
PYTHON
}
