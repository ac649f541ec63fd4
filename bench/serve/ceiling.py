"""`mlci serve` against the HTTP ceiling, and 100-row requests against 1-row ones, in one run.

    PYTHONPATH=python python3 bench/serve/ceiling.py [SECONDS] [ROUNDS]    (default 10 s, 2 rounds)

Same model as bench/serve/run.sh (bench/serve/model.py: RandomForestClassifier, 100 trees,
max_depth 8, behind mlci's median imputer). Two servers, three loads, each
`wrk -t2 -c16 -d{SECONDS}s`, one after the other, ROUNDS times interleaved:

  ceiling   an asyncio server that answers every POST with a fixed body: the same socket setup
            as `mlci serve` (one exclusively bound listening socket, inherited by 2 pre-forked
            workers), the same event loop, the same response headers; no parsing, no model.
            The most a Python asyncio server can do on this machine: the physical limit.
  1-row     `mlci serve --workers 2`, a 1-row dataframe_split request
  100-row   the same server, a 100-row dataframe_split request (the first 100 training rows)
  1-row distinct, 100-row distinct
            the same, but wrk cycles through 64 different bodies whose rows are the data set's
            rows drawn at random, each value scaled by 1 +- up to 5%: the same body again and
            again lets the CPU's branch predictor learn the trees' branches, which flatters a
            compiled tree walk; real traffic sends distinct rows

Prints requests/s of each, the servers' CPU time per request (their processes' user + system
time over the run, from /proc: less sensitive to other load on the machine than requests/s),
and the two ratios the serving goals are stated in, each taken
within a round (back to back) and the median over the rounds given:
  1-row requests/s / ceiling requests/s, and 100-row requests/s / 1-row requests/s (for the
  repeated bodies, and for the distinct ones).
Needs wrk (apt-get install wrk). MLflow is not needed (bench/serve/run.sh compares with it).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
FIXED = b'{"predictions": [0]}'
RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
            b"Connection: keep-alive\r\n\r\n%s" % (len(FIXED), FIXED))


# --- the ceiling server ------------------------------------------------------------------------

class _Fixed(asyncio.Protocol):
    """Keep-alive HTTP/1.1 that only finds where each request ends, then writes a fixed answer."""

    def connection_made(self, transport):
        self.transport = transport
        self.buffer = bytearray()

    def data_received(self, data):
        self.buffer += data
        buf = self.buffer
        while True:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            m = re.search(rb"(?i)content-length:\s*(\d+)", buf, 0) if b"ength" in buf[:end] else None
            total = end + 4 + (int(m.group(1)) if m else 0)
            if len(buf) < total:
                return
            del buf[:total]
            self.transport.write(RESPONSE)


def fixed_server(port: int, workers: int) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.setblocking(False)
    sock.listen(1024)

    async def serve():
        loop = asyncio.get_running_loop()
        await loop.create_server(_Fixed, sock=sock, backlog=1024)
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()

    children = []
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:
            asyncio.run(serve())
            os._exit(0)
        children.append(pid)
    signal.signal(signal.SIGTERM, lambda *_: [os.kill(p, signal.SIGTERM) for p in children])
    for p in children:
        os.waitpid(p, 0)


# --- the run -------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, body: bytes, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=5) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.25)
    raise SystemExit(f"server at {url} did not come up")


def lua(path: Path, body: bytes) -> Path:
    path.write_text('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                    f"wrk.body = {json.dumps(body.decode())}\n")
    return path


def lua_cycle(path: Path, bodies: list[bytes]) -> Path:
    """A wrk script sending the bodies in turn (each request formatted once, in init)."""
    listed = ", ".join(json.dumps(b.decode()) for b in bodies)
    path.write_text(f"local bodies = {{{listed}}}\nlocal requests = {{}}\nlocal i = 0\n"
                    "init = function(args)\n  for k, b in ipairs(bodies) do\n"
                    '    requests[k] = wrk.format("POST", nil, {["Content-Type"] = "application/json"}, b)\n'
                    "  end\nend\n"
                    "request = function()\n  i = i % #requests + 1\n  return requests[i]\nend\n")
    return path


def distinct_bodies(columns: list[str], data: list[list[float]], rows: int, count: int, seed: int = 0) -> list[bytes]:
    """``count`` dataframe_split bodies of ``rows`` rows each: the data's rows drawn at random,
    every value scaled by a factor in [0.95, 1.05]."""
    import random

    rng = random.Random(seed)
    return [json.dumps({"dataframe_split": {"columns": columns, "data": [
        [v * rng.uniform(0.95, 1.05) for v in rng.choice(data)] for _ in range(rows)]}}).encode()
        for _ in range(count)]


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a server: its process and its workers (Linux /proc)."""
    pids = [pid] + [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    ticks = 0
    for p in pids:
        fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def wrk(url: str, script: Path, seconds: int, server: int) -> tuple[float, int, float]:
    """requests/s, non-2xx answers, and the server's CPU microseconds per request."""
    before = cpu_seconds(server)
    out = subprocess.run(["wrk", "-t2", "-c16", f"-d{seconds}s", "-s", str(script), url],
                         check=True, capture_output=True, text=True).stdout
    used = cpu_seconds(server) - before
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, int(bad.group(1)) if bad else 0, used / max(requests, 1) * 1e6


def main() -> None:
    seconds = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    load = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="mlci-bench-ceiling-"))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "python"),
                                                                    os.environ.get("PYTHONPATH")]))}
    model = subprocess.run([sys.executable, str(HERE / "model.py"), str(work)], check=True, env=env,
                           capture_output=True, text=True).stdout.strip()
    one = (work / "body.json").read_bytes()
    import csv

    with open(work / "project" / "data" / "train.csv", newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        every_row = list(reader)
    keep = [i for i, c in enumerate(header) if c != "target"]
    columns = [header[i] for i in keep]
    data = [[float(r[i]) for i in keep] for r in every_row]
    hundred = json.dumps({"dataframe_split": {"columns": columns, "data": data[:100]}}).encode()
    scripts = {"1-row": lua(work / "one.lua", one), "100-row": lua(work / "hundred.lua", hundred),
               "ceiling": lua(work / "ceiling.lua", one),
               "1-row distinct": lua_cycle(work / "one-distinct.lua", distinct_bodies(columns, data, 1, 64)),
               "100-row distinct": lua_cycle(work / "hundred-distinct.lua", distinct_bodies(columns, data, 100, 64))}

    mlci_port, fixed_port = free_port(), free_port()
    procs = [
        subprocess.Popen([sys.executable, "-m", "mlci", "serve", "--model", model, "--port", str(mlci_port),
                          "--workers", "2"], env=env, stderr=open(work / "mlci.log", "w"), start_new_session=True),
        subprocess.Popen([sys.executable, __file__, "--fixed", str(fixed_port), "2"], start_new_session=True),
    ]
    try:
        urls = {"ceiling": f"http://127.0.0.1:{fixed_port}/invocations",
                "1-row": f"http://127.0.0.1:{mlci_port}/invocations",
                "100-row": f"http://127.0.0.1:{mlci_port}/invocations",
                "1-row distinct": f"http://127.0.0.1:{mlci_port}/invocations",
                "100-row distinct": f"http://127.0.0.1:{mlci_port}/invocations"}
        wait_ready(urls["100-row"], hundred)
        wait_ready(urls["ceiling"], one)
        with urllib.request.urlopen(f"http://127.0.0.1:{mlci_port}/health", timeout=5) as resp:
            engine = json.loads(resp.read())["engine"]
        server = {name: procs[1].pid if name == "ceiling" else procs[0].pid for name in urls}
        for name in urls:  # warm-up
            wrk(urls[name], scripts[name], 2, server[name])
        results: dict[str, list[float]] = {name: [] for name in urls}
        cpu: dict[str, list[float]] = {name: [] for name in urls}
        for r in range(rounds):
            for name in urls:
                rps, bad, us = wrk(urls[name], scripts[name], seconds, server[name])
                if bad:
                    raise SystemExit(f"{name}: {bad} non-2xx answers (see {work / 'mlci.log'})")
                results[name].append(rps)
                cpu[name].append(us)
                print(f"round {r + 1} {name}: {rps:.0f} requests/s, server CPU {us:.1f} us per request",
                      file=sys.stderr)
    finally:
        for p in procs:
            os.killpg(p.pid, signal.SIGTERM)
            p.wait(30)
    print(f"wrk -t2 -c16 -d{seconds}s, {rounds} rounds interleaved, mlci engine {engine}; load average before: "
          f"{' '.join(f'{x:.1f}' for x in load)}, after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print("| server | request | requests/s per round | median | server CPU µs per request (median) |")
    print("|---|---|---:|---:|---:|")
    labels = {"ceiling": ("asyncio fixed body, 2 workers", "1-row body"),
              "1-row": ("mlci serve --workers 2", "1 row"), "100-row": ("mlci serve --workers 2", "100 rows"),
              "1-row distinct": ("mlci serve --workers 2", "1 row, 64 distinct bodies"),
              "100-row distinct": ("mlci serve --workers 2", "100 rows, 64 distinct bodies")}
    med = {name: statistics.median(v) for name, v in results.items()}
    for name, v in results.items():
        server_name, request = labels[name]
        print(f"| {server_name} | {request} | {' / '.join(f'{x:.0f}' for x in v)} | {med[name]:.0f} | "
              f"{statistics.median(cpu[name]):.1f} |")
    vs_ceiling = [a / b for a, b in zip(results["1-row"], results["ceiling"])]
    vs_one_row = [a / b for a, b in zip(results["100-row"], results["1-row"])]
    print(f"\n1-row vs ceiling: {statistics.median(vs_ceiling):.2f}x (median of the rounds: "
          f"{', '.join(f'{x:.2f}' for x in vs_ceiling)})")
    print(f"100-row vs 1-row requests/s: {statistics.median(vs_one_row):.2f}x (median of the rounds: "
          f"{', '.join(f'{x:.2f}' for x in vs_one_row)}; {med['100-row'] * 100:.0f} rows/s)")
    distinct = [a / b for a, b in zip(results["100-row distinct"], results["1-row distinct"])]
    print(f"100-row vs 1-row requests/s, distinct bodies: {statistics.median(distinct):.2f}x (median of the rounds: "
          f"{', '.join(f'{x:.2f}' for x in distinct)}; {med['100-row distinct'] * 100:.0f} rows/s)")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--fixed"]:
        fixed_server(int(sys.argv[2]), int(sys.argv[3]))
    else:
        main()
