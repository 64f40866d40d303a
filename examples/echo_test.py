#!/usr/bin/env python3
"""example.echo_server: echo_server on an ephemeral port (its port read
from the "listening on 127.0.0.1:PORT" line it prints), echo_client with
--connections C --messages M --size S against it. Passes when the client
exits 0 (it checks every byte echoed), the server exits 0 by itself after
the C-th connection closed (--exit-after C), and both summaries count C
connections and C * M * S bytes.

--wrap ARG (repeatable) runs both programs under a command (valgrind).
Skips (77) when the hard limit on open files cannot hold C sockets.
"""
import argparse
import re
import resource
import subprocess
import sys

# A guard against a hang only (ctest's TIMEOUT is longer): a run that
# passes takes a few seconds natively.
HANG_GUARD_S = 240


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--client", required=True)
    ap.add_argument("--connections", type=int, required=True)
    ap.add_argument("--messages", type=int, required=True)
    ap.add_argument("--size", type=int, required=True)
    ap.add_argument("--wrap", action="append", default=[])
    a = ap.parse_args()

    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard < a.connections + 16:
        print(f"SKIP: the hard limit on open files is {hard}, too low for "
              f"{a.connections} connections")
        return 77

    n = str(a.connections)
    server_cmd = a.wrap + [a.server, "--port", "0", "--exit-after", n]
    client_cmd = a.wrap + [a.client, "--port", "PORT", "--connections", n,
                           "--messages", str(a.messages),
                           "--size", str(a.size)]
    print("$ " + " ".join(server_cmd), flush=True)
    server = subprocess.Popen(server_cmd, stdout=subprocess.PIPE, text=True)
    try:
        # Blocks until the server has its port (or has died: then "").
        first = server.stdout.readline()
        print(first, end="")
        m = re.fullmatch(r"listening on 127\.0\.0\.1:(\d+)\n", first)
        if not m:
            print("FAIL: the server did not print its port")
            return 1
        client_cmd[client_cmd.index("PORT")] = m.group(1)
        print("$ " + " ".join(client_cmd), flush=True)
        client = subprocess.run(client_cmd, stdout=subprocess.PIPE,
                                text=True, timeout=HANG_GUARD_S)
        print(client.stdout, end="")
        if client.returncode != 0:
            server.terminate()  # it would wait for connections forever
        # The server stops by itself after the last connection closed.
        rest, _ = server.communicate(timeout=HANG_GUARD_S)
        print(rest, end="", flush=True)
    except subprocess.TimeoutExpired as e:
        print(f"FAIL: {e}")
        return 1
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()

    expected = a.connections * a.messages * a.size
    ok = True
    if client.returncode != 0:
        print(f"FAIL: the client exited with {client.returncode}")
        ok = False
    if server.returncode != 0:
        print(f"FAIL: the server exited with {server.returncode}")
        ok = False
    want = (f"echo_client: {n} of {n} connections ok, {expected} bytes "
            f"echoed and checked")
    if want not in client.stdout:
        print(f"FAIL: the client's summary is not \"{want} ...\"")
        ok = False
    want = f"echo_server: {n} connections, {expected} bytes echoed\n"
    if not rest.endswith(want):
        print(f"FAIL: the server's summary is not \"{want.strip()}\"")
        ok = False
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
