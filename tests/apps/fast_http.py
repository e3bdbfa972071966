"""A fast loopback HTTP/1.1 server for load tests and benchmarks: asyncio, keep-alive, a fixed small answer to
every request (GET without a body). `python tests/apps/fast_http.py PORT [DELAY_MS]`; DELAY_MS > 0 answers
each request that much later (a slow service, without holding the loop)."""

from __future__ import annotations

import asyncio
import sys

BODY = b'{"ok": true}'
ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(BODY), BODY)


class Answer(asyncio.Protocol):
    delay_s = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport, self.buffer = transport, b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        count = self.buffer.count(b"\r\n\r\n")
        if count:
            self.buffer = self.buffer[self.buffer.rindex(b"\r\n\r\n") + 4:]
            if self.delay_s:
                asyncio.get_running_loop().call_later(self.delay_s, self._answer, count)
            else:
                self._answer(count)

    def _answer(self, count: int) -> None:
        if not self.transport.is_closing():
            self.transport.write(ANSWER * count)  # type: ignore[attr-defined]


async def main(port: int) -> None:
    server = await asyncio.get_running_loop().create_server(Answer, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    Answer.delay_s = float(sys.argv[2]) / 1000 if len(sys.argv) > 2 else 0.0
    asyncio.run(main(int(sys.argv[1])))
