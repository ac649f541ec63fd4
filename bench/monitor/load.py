"""A bounded load generator for when wrk is not installed: 16 keep-alive connections on
asyncio, single-row POSTs for SECONDS; prints requests/s. Usage: load.py URL BODY_FILE SECONDS"""

import asyncio
import sys
import time
from urllib.parse import urlsplit


async def client(host, port, request, deadline, counts):
    reader, writer = await asyncio.open_connection(host, port)
    while time.monotonic() < deadline:
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        length = int([h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length:")][0].split(b":")[1])
        await reader.readexactly(length)
        if not head.startswith(b"HTTP/1.1 200"):
            raise SystemExit(f"non-200 answer: {head[:40]!r}")
        counts[0] += 1
    writer.close()


async def main(url, body_file, seconds):
    u = urlsplit(url)
    body = open(body_file, "rb").read()
    request = (f"POST {u.path} HTTP/1.1\r\nHost: {u.hostname}\r\nContent-Type: application/json\r\n"
               f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    counts = [0]
    start = time.monotonic()
    deadline = start + seconds
    await asyncio.gather(*(client(u.hostname, u.port, request, deadline, counts) for _ in range(16)))
    print(f"{counts[0] / (time.monotonic() - start):.2f}")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3])))
