#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Control channel between the two guests of a scripts/vm-pair run.

The peer guest runs "agent.py serve"; the primary guest's tests run shell
scripts on it with "agent.py run".  The channel uses the guests' second
NIC (vm-run --ctl-link), so that faults injected on the mirror's link
(netem, ip link down) never cut it.

Protocol: one TCP connection per request; the client sends one JSON line
{"script": TEXT, "timeout": SECS} or {"quit": true}; the server runs TEXT
with bash in the repository directory (stdin /dev/null, stdout and stderr
together) and answers one JSON line {"rc": N, "out": TEXT}.  A script that
starts a background job must redirect the job's output, or the answer
waits for the job.

The same server also takes a framing that a bash client can speak with
/dev/tcp (selftests/pair/lib-pair.bash, peer()): the line "RUN SECS N",
then the script's N bytes; the answer is the line "RC", then the output,
then the server closes the connection.  Starting python3 costs seconds of
emulated CPU, and the two-guest tests make hundreds of requests.
"""

import argparse
import json
import os
import socket
import socketserver
import subprocess
import sys
import threading
import time

PORT = 7790


def execute(script, timeout):
    """Run SCRIPT with bash; return (exit status, output bytes)."""
    try:
        p = subprocess.run(["bash", "-c", script],
                           stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT,
                           cwd=os.environ.get("DM_REPO", "/"),
                           timeout=timeout, check=False)
        return p.returncode, p.stdout
    except subprocess.TimeoutExpired as e:
        return 124, (e.stdout or b"") + b"agent: timed out after %d s\n" % timeout


class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        line = self.rfile.readline()
        if line.startswith(b"RUN "):
            self.handle_raw(line)
            return
        try:
            req = json.loads(line)
        except ValueError:
            self.reply(2, "agent: bad request\n")
            return
        if req.get("quit"):
            self.reply(0, "")
            threading.Thread(target=self.server.shutdown, daemon=True).start()
            return
        rc, out = execute(req.get("script", ""), int(req.get("timeout", 300)))
        self.reply(rc, out.decode(errors="replace"))

    def handle_raw(self, line):
        try:
            _, timeout, n = line.split()
            timeout, n = int(timeout), int(n)
        except ValueError:
            self.wfile.write(b"2\nagent: bad request\n")
            return
        script = self.rfile.read(n)
        if len(script) != n:
            self.wfile.write(b"2\nagent: short request\n")
            return
        rc, out = execute(script.decode(errors="replace"), timeout)
        self.wfile.write(b"%d\n" % rc + out)

    def reply(self, rc, out):
        self.wfile.write((json.dumps({"rc": rc, "out": out}) + "\n").encode())


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def serve(args):
    with Server((args.addr, args.port), Handler) as srv:
        print("agent: serving on %s:%d" % (args.addr, args.port), flush=True)
        srv.serve_forever()
    print("agent: done", flush=True)
    return 0


def request(host, port, req, timeout):
    with socket.create_connection((host, port), timeout=10) as s:
        s.settimeout(timeout + 30)
        s.sendall((json.dumps(req) + "\n").encode())
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    return json.loads(data)


def run(args):
    script = args.script if args.script != "-" else sys.stdin.read()
    try:
        ans = request(args.host, args.port,
                      {"script": script, "timeout": args.timeout},
                      args.timeout)
    except (OSError, ValueError) as e:
        print("agent: %s:%d: %s" % (args.host, args.port, e), file=sys.stderr)
        return 255
    sys.stdout.write(ans["out"])
    return ans["rc"]


def wait(args):
    end = time.monotonic() + args.timeout
    while True:
        try:
            if request(args.host, args.port, {"script": "true"}, 10)["rc"] == 0:
                return 0
        except (OSError, ValueError):
            pass
        if time.monotonic() > end:
            print("agent: %s:%d did not answer within %d s" %
                  (args.host, args.port, args.timeout), file=sys.stderr)
            return 1
        time.sleep(0.5)


def quit_(args):
    try:
        request(args.host, args.port, {"quit": True}, 10)
    except (OSError, ValueError) as e:
        print("agent: %s:%d: %s" % (args.host, args.port, e), file=sys.stderr)
        return 1
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("serve", help="answer requests (peer guest)")
    p.add_argument("--addr", default="0.0.0.0")
    p.add_argument("--port", type=int, default=PORT)
    p.set_defaults(fn=serve)
    for name, fn in (("run", run), ("wait", wait), ("quit", quit_)):
        p = sub.add_parser(name)
        p.add_argument("--host", required=True)
        p.add_argument("--port", type=int, default=PORT)
        p.add_argument("--timeout", type=int, default=300)
        if name == "run":
            p.add_argument("script", help="bash script text, or - for stdin")
        p.set_defaults(fn=fn)
    args = ap.parse_args()
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
