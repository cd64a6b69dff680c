"""One load-generator process: `python -m shoptools.bench.load SPEC_JSON`.

It keeps `connections` calls in flight against one target until told to stop, so several
of these processes together can load a server harder than one Python process could. The
parent drives it over stdin, one word a line:

    measure   forget what was counted so far (the warm-up) and start counting
    stop      stop calling, report, exit

and reads JSON lines on stdout: {"ready": true} once a first call succeeded, {"done": n}
about twice a second (progress), and at the end {"calls": ..., "errors": ...,
"window_s": ..., "latencies_us": [...], "error_samples": [...]} for the calls completed
inside the window (a few distinct error responses, to say what failed), and with
`capture` set, "captured": [[value, sent], ...]: that field of each successful response
(e.g. the new order's id) and when its call was sent (Unix time, seconds).

Closed loop by default (a call starts when one ends); with `rate` open loop: calls start at
that rate, `connections` bounding how many are in flight.

The client is kept as cheap as possible, because its CPU competes with what it measures:
requests are serialized once, gRPC responses are not parsed (only their status counts),
and HTTP goes over a minimal keep-alive HTTP/1.1 client instead of a general one.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import grpc.aio

PROGRESS_S = 0.5
MAX_ERROR_SAMPLES = 5
ERROR_SAMPLE_BYTES = 300
# (slot, i): the i-th call; whether it succeeded, and the response body (HTTP only)
Call = Callable[[int, int], Awaitable[tuple[bool, bytes]]]


@dataclass(frozen=True)
class Spec:
    """What to call and how hard; the parent writes it as JSON (see `to_json`)."""

    transport: str  # "grpc" (plaintext), "grpc-tls" (mutual TLS, as a mesh identity), "http"
    port: int
    connections: int  # calls in flight at once
    grpc_method: str = ""  # "/shop.catalog.v1.CatalogService/GetProduct" for the gRPC ones
    grpc_requests: tuple[str, ...] = ()  # serialized requests (hex), used in turn
    http_paths: tuple[str, ...] = ()  # e.g. "/v1/products/SKU-1", used in turn
    tls_ca: str = ""  # files for grpc-tls: the mesh CA, the identity's certificate and key
    tls_cert: str = ""
    tls_key: str = ""
    tls_server_name: str = ""  # the certificate name the server must present
    http_method: str = "GET"
    http_bodies: tuple[str, ...] = ()  # JSON, used in turn; each "{key}" becomes a new UUID
    http_headers: tuple[str, ...] = ()  # "Name: value", e.g. an authorization header
    rate: float = 0.0  # calls started per second; 0: closed loop
    capture: str = ""  # a string field of the JSON response to report per call

    def to_json(self) -> str:
        return json.dumps(self.__dict__)

    @classmethod
    def from_json(cls, text: str) -> Spec:
        raw: dict[str, Any] = json.loads(text)
        raw["grpc_requests"] = tuple(raw["grpc_requests"])
        raw["http_paths"] = tuple(raw["http_paths"])
        raw["http_headers"] = tuple(raw.get("http_headers", ()))
        raw["http_bodies"] = tuple(raw.get("http_bodies", ()))
        return cls(**raw)


class Counter:
    def __init__(self, capture: str = "") -> None:
        self.measuring = False
        self.stopping = False
        self.done = 0  # calls completed, warm-up included (progress)
        self.errors = 0
        self.latencies_us: list[int] = []
        self.window_start = 0.0
        self.captured: list[tuple[str, float]] = []
        self.error_samples: set[str] = set()
        self._marker = f'"{capture}":"'.encode() if capture else b""

    def record(self, reply: tuple[bool, bytes], started: float, ended: float, sent: float) -> None:
        self.done += 1
        if not self.measuring:
            return
        ok, body = reply
        if not ok:
            self.errors += 1
            if len(self.error_samples) < MAX_ERROR_SAMPLES:
                self.error_samples.add(body[:ERROR_SAMPLE_BYTES].decode(errors="replace"))
            return
        self.latencies_us.append(round((ended - started) * 1e6))
        if self._marker:
            value = captured_field(body, self._marker)
            if value:
                self.captured.append((value, sent))


def captured_field(body: bytes, marker: bytes) -> str:
    """The string after `marker` ('"field":"') in a compact JSON body, without parsing it
    (the load generator's CPU competes with what it measures); "" when absent."""
    at = body.find(marker)
    if at < 0:
        return ""
    start = at + len(marker)
    end = body.find(b'"', start)
    return body[start:end].decode() if end > start else ""


class Pacer:
    """Start times `1 / rate` apart, shared by every slot (open loop)."""

    def __init__(self, rate: float) -> None:
        self._interval = 1 / rate
        self._next = 0.0

    async def wait(self) -> None:
        now = time.perf_counter()
        self._next = max(self._next + self._interval, now)
        await asyncio.sleep(self._next - now)


async def run(spec: Spec) -> None:
    counter = Counter(spec.capture)
    call, close = await _caller(spec)
    pacer = Pacer(spec.rate) if spec.rate > 0 else None
    try:
        ok, body = await call(0, 0)
        if not ok:
            raise SystemExit(f"the first call to port {spec.port} failed: {body[:500]!r}")
        _emit({"ready": True})
        workers = [
            asyncio.create_task(_keep_calling(call, counter, slot, pacer))
            for slot in range(spec.connections)
        ]
        progress = asyncio.create_task(_report_progress(counter))
        await _follow_commands(counter)
        window_s = time.perf_counter() - counter.window_start
        counter.measuring = False  # calls ending after `stop` are outside the window
        counter.stopping = True
        await asyncio.gather(*workers)
        progress.cancel()
        _emit(
            {
                "calls": len(counter.latencies_us) + counter.errors,
                "errors": counter.errors,
                "window_s": window_s,
                "latencies_us": counter.latencies_us,
                "error_samples": sorted(counter.error_samples),
                **({"captured": counter.captured} if spec.capture else {}),
            }
        )
    finally:
        await close()


async def _keep_calling(call: Call, counter: Counter, slot: int, pacer: Pacer | None) -> None:
    i = slot  # slots start at different requests, so the mix is there from the first call
    clock = time.perf_counter
    while True:
        if pacer is not None:
            await pacer.wait()  # stopping may have come meanwhile
        if counter.stopping:
            return
        started, sent = clock(), time.time()
        try:
            reply = await call(slot, i)
        except (grpc.aio.AioRpcError, OSError, asyncio.IncompleteReadError, ValueError):
            reply = (False, b"")
            await asyncio.sleep(0.01)  # a refused connection must not spin the loop
        counter.record(reply, started, clock(), sent)
        i += 1


async def _follow_commands(counter: Counter) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        word = (await reader.readline()).decode().strip()
        if word == "measure":
            counter.latencies_us, counter.errors = [], 0
            counter.window_start = time.perf_counter()
            counter.measuring = True
        elif word in ("stop", ""):  # "" is end of input: the parent is gone
            return


async def _report_progress(counter: Counter) -> None:
    while True:
        await asyncio.sleep(PROGRESS_S)
        _emit({"done": counter.done})


def _emit(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


async def _caller(spec: Spec) -> tuple[Call, Callable[[], Awaitable[None]]]:
    if spec.transport == "http":
        return await _http_caller(spec)
    return _grpc_caller(spec)


def _grpc_caller(spec: Spec) -> tuple[Call, Callable[[], Awaitable[None]]]:
    target = f"127.0.0.1:{spec.port}"
    if spec.transport == "grpc-tls":
        credentials = grpc.ssl_channel_credentials(
            root_certificates=Path(spec.tls_ca).read_bytes(),
            private_key=Path(spec.tls_key).read_bytes(),
            certificate_chain=Path(spec.tls_cert).read_bytes(),
        )
        channel = grpc.aio.secure_channel(
            target,
            credentials,
            options=[("grpc.ssl_target_name_override", spec.tls_server_name)],
        )
    else:
        channel = grpc.aio.insecure_channel(target)
    # Bytes in, bytes out: no (de)serialization cost on the load generator's side.
    method: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(spec.grpc_method)
    requests = [bytes.fromhex(r) for r in spec.grpc_requests]

    async def call(slot: int, i: int) -> tuple[bool, bytes]:
        await method(requests[i % len(requests)], timeout=30)
        return True, b""

    return call, channel.close


async def _http_caller(spec: Spec) -> tuple[Call, Callable[[], Awaitable[None]]]:
    """Each in-flight slot gets its own keep-alive connection (HTTP/1.1 has no multiplexing),
    opened lazily; a request is one write, a response one header read and one body read."""
    connections: dict[int, tuple[asyncio.StreamReader, asyncio.StreamWriter]] = {}
    # Requests without a body are the same every time round: build them once.
    fixed = [http_request(spec, i) for i in range(len(spec.http_paths))]

    async def call(slot: int, i: int) -> tuple[bool, bytes]:
        if slot not in connections:
            connections[slot] = await asyncio.open_connection("127.0.0.1", spec.port)
        reader, writer = connections[slot]
        writer.write(http_request(spec, i) if spec.http_bodies else fixed[i % len(fixed)])
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            body = await reader.readexactly(_content_length(head))
        except BaseException:
            del connections[slot]
            writer.close()
            raise
        return head.startswith(b"HTTP/1.1 200 "), body

    async def close() -> None:
        for _, writer in connections.values():
            writer.close()

    return call, close


def http_request(spec: Spec, i: int) -> bytes:
    """The i-th request: the paths and bodies in turn; a fresh UUID for each "{key}"."""
    head = f"{spec.http_method} {spec.http_paths[i % len(spec.http_paths)]} HTTP/1.1\r\n"
    head += f"Host: 127.0.0.1:{spec.port}\r\n" + "".join(f"{h}\r\n" for h in spec.http_headers)
    if not spec.http_bodies:
        return f"{head}\r\n".encode()
    template = spec.http_bodies[i % len(spec.http_bodies)]
    body = template.replace("{key}", str(uuid.uuid4())).encode()
    head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


def _content_length(head: bytes) -> int:
    at = head.lower().find(b"\r\ncontent-length:")
    if at < 0:
        raise ValueError("a response without content-length (chunked is not supported)")
    end = head.index(b"\r\n", at + 2)
    return int(head[at + 17 : end])


def main() -> None:
    asyncio.run(run(Spec.from_json(sys.argv[1])))


if __name__ == "__main__":
    main()
