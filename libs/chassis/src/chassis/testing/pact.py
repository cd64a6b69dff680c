"""Consumer-driven contracts between services (Pact, V4), over the contracts' proto3 JSON
mapping: buf guards the wire, a pact says what one consumer relies on.

A consumer's contract test writes what it needs and checks its own code against it:

    PACT = pact.new_pact("payments", "orders")
    pact.event(PACT, "an order was cancelled", OrderCancelled,
               {"orderId": ..., "paymentId": ..., "reason": ...}, given="order ... was paid")

    async def test_payments_reads_order_cancelled(service_app, runtime):
        subscription = pact.subscribed(service_app, runtime, "payments-order-cancelled")
        cancelled = pact.received_events(PACT, subscription)["an order was cancelled"]
        assert events.order_cancellation(cancelled) == ...   # the fields it reads

    def test_the_pact_in_the_repository_is_current():
        pact.assert_committed(PACT)   # SHOP_PACT_UPDATE=1 writes pacts/<consumer>-<provider>.json

A gRPC call is a synchronous message (`call`); the consumer's real client is pointed at
`pact_peer(PACT)`, a server that answers from the pact and refuses a request the pact does
not name. The provider verifies every consumer's pact on itself (`verify_provider`): events
produced by its real use cases and read back from its outbox, calls run through its real
servicer and database, each in the state the consumer named.

An HTTP pact (a REST client's, written with pact-python's own HTTP interactions against
`Pact.serve()`) is verified through the gateway of a whole stack, not here
(`http_pacts`; tests/system/test_pact_rest.py); what only the provider's state knows (an
id it made, a caller's token) is a `from_state` value of the request.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import grpc
import grpc.aio
from google.protobuf import descriptor_pool, json_format, message_factory
from google.protobuf.message import Message
from google.rpc.error_details_pb2 import ErrorInfo
from sqlalchemy import text

from chassis import status
from chassis.app import Runtime, ServiceApp
from chassis.consumer import E, Subscription, decode
from chassis.db import Database
from chassis.errors import Reason
from chassis.outbox import event_route
from chassis.testing.outbox import outbox_events
from shop.common.v1.event_pb2 import EventEnvelope

os.environ.setdefault("PACT_DO_NOT_TRACK", "true")  # before pact is imported: no telemetry

from pact import Pact, Verifier, generate, match
from pact.match.matcher import GenericMatcher
from pact.types import Message as PactMessage

__all__ = [
    "Aliases",
    "Pact",
    "assert_committed",
    "call",
    "emptied",
    "event",
    "failure",
    "from_state",
    "http_pacts",
    "int64",
    "match",
    "new_pact",
    "newest_event",
    "pact_peer",
    "pact_server",
    "received",
    "received_events",
    "subscribed",
    "uuid",
    "verify_provider",
]

JSON = "application/json"
GRPC_ERROR = "grpcError"  # a call's answer that is a failure: {"grpcError": {code, errorInfo}}
GRPC_METHOD = "grpcMethod"  # request metadata of a call: "/shop.payments.v1.PaymentsService/..."
UPDATE_ENV = "SHOP_PACT_UPDATE"  # "1": consumer tests write their pacts into pacts/
CONSUMER_ENV = "SHOP_PACT_CONSUMER"  # verify only this consumer's pacts (can-i-deploy)
PACTS_ENV = "SHOP_PACTS_DIR"  # where the pacts are (default: pacts/ of the repository)

Params = dict[str, Any]
T = TypeVar("T")
Producer = Callable[[], Awaitable[EventEnvelope]]
Aliases = Mapping[str, str]
"""The consumer's example ids -> the ids the provider gave the things a state set up."""
StateSetup = Callable[[Params], Awaitable[Aliases | None]]


def pacts_dir() -> Path:
    """The repository's pacts/ (beside buf.yaml, found from the working directory up)."""
    configured = os.environ.get(PACTS_ENV)
    if configured:
        return Path(configured)
    for folder in [Path.cwd(), *Path.cwd().parents]:
        if (folder / "buf.yaml").is_file():
            return folder / "pacts"
    raise RuntimeError(f"no buf.yaml above {Path.cwd()}: set {PACTS_ENV}")


def new_pact(consumer: str, provider: str) -> Pact:
    return Pact(consumer, provider).with_specification("V4")


# --- what a consumer writes ------------------------------------------------------------


def int64(example: int) -> Any:
    """An int64/uint64 field: a string of digits in the JSON mapping."""
    return match.regex(str(example), regex=r"^-?[0-9]+$")


def uuid(example: str) -> Any:
    return match.uuid(example)


def from_state(example: str, expression: str, regex: str = "") -> Any:
    """A value of an HTTP request that only the provider's state knows (an id it made, a
    token for the caller it set up): `example` in the consumer's test (or anything of the
    form `regex`, when given), `expression` with the state's values
    ("/v1/orders/${orderId}", "Bearer ${adminToken}") when the provider verifies."""
    regex = regex or f"^{re.escape(example)}$"
    assert re.fullmatch(regex, example), f"{example!r} is not of the form {regex}"
    return GenericMatcher(
        "regex", example, generator=generate.provider_state(expression), regex=regex
    )


def envelope(event_type: type[Message], data: Mapping[str, Any]) -> dict[str, Any]:
    """An event message's body: the EventEnvelope in the JSON mapping, with `data` (the
    fields of the event the consumer reads). What differs on every event (id, time,
    correlation id, the aggregate's id) is matched by its form; the chassis's consumer
    reads all of these, so every consumer needs them."""
    name = event_type.DESCRIPTOR.full_name
    collection = event_route(event_type.DESCRIPTOR).collection  # type: ignore[arg-type]
    return {
        "id": match.uuid("6f1a3c1e-2b4d-4e8a-9c3b-0d5e7f9a1b2c"),
        "source": match.regex("//shop.shop.local", regex=r"^//[a-z]+\.shop\.local$"),
        "specVersion": "1.0",
        "type": name,
        "subject": match.regex(f"{collection}/example", regex=rf"^{collection}/[^/]+$"),
        "time": match.regex(
            "2026-01-01T12:00:00.000001Z", regex=r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$"
        ),
        "schemaVersion": match.int(1),
        "correlationId": match.str("c0ffee00-0000-4000-8000-000000000001"),
        "data": {"@type": f"type.googleapis.com/{name}", **data},
    }


def event(
    pact: Pact,
    description: str,
    event_type: type[Message],
    data: Mapping[str, Any],
    *,
    given: str,
    **params: Any,
) -> None:
    """The consumer receives `event_type` with (at least) `data`, as its provider publishes
    it in the state `given` (what the provider did, e.g. "a paid order was cancelled")."""
    interaction = pact.upon_receiving(description, "Async").given(given, **params)
    interaction.with_body(envelope(event_type, data), JSON)


def call(  # noqa: PLR0913 - a call is all of these
    pact: Pact,
    description: str,
    method: str,
    request: Mapping[str, Any],
    response: Mapping[str, Any],
    *,
    given: str,
    **params: Any,
) -> None:
    """The consumer calls `method` ("/<package>.<Service>/<Method>") with exactly
    `request` (JSON mapping) and needs (at least) `response`, in the provider state
    `given`."""
    interaction = pact.upon_receiving(description, "Sync").given(given, **params)
    interaction.with_body(dict(request), JSON).with_metadata({GRPC_METHOD: method})
    interaction.will_respond_with().with_body(dict(response), JSON)


def failure(code: grpc.StatusCode, reason: Reason, **metadata: Any) -> dict[str, Any]:
    """A call's answer that is a refusal: its status code and ErrorInfo (reason, domain,
    and the metadata the consumer reads), in place of a response message."""
    info: dict[str, Any] = {"reason": reason.name, "domain": reason.domain}
    if metadata:
        info["metadata"] = metadata
    return {GRPC_ERROR: {"code": code.name, "errorInfo": info}}


# --- what a consumer checks --------------------------------------------------------------


def subscribed(app: ServiceApp, runtime: Runtime, name: str) -> Subscription[Any]:
    """The subscription `name` as the service wires it (its event types, its handler)."""
    wiring = app.wire(runtime)
    found = [s for s in wiring.subscriptions if s.name == name]
    assert found, f"{app.name} wires no subscription {name!r}"
    return found[0]


def received_events(pact: Pact, subscription: Subscription[E]) -> dict[str, E]:
    """Every event message of the pact as `subscription` receives it (description ->
    event): the body in the JSON mapping, then on the wire, then through the chassis's
    decoder (envelope rules, event type, the event's own rules), as in production."""
    return {name: event for name, (event, _) in received(pact, subscription).items()}


def received(pact: Pact, subscription: Subscription[E]) -> dict[str, tuple[E, EventEnvelope]]:
    """As received_events, with each event's envelope."""
    decoded: dict[str, tuple[E, EventEnvelope]] = {}
    for message in pact.interactions("Async"):
        assert message.contents is not None, f"{message.description!r} has no body"
        wire = json_format.Parse(str(message.contents.contents), EventEnvelope())
        decoded[message.description] = decode(subscription, wire.SerializeToString())
    return decoded


@asynccontextmanager
async def pact_peer(pact: Pact) -> AsyncIterator[grpc.aio.Channel]:
    """A channel to a gRPC server that plays the provider from the pact (pact_server)."""
    async with pact_server(pact) as address, grpc.aio.insecure_channel(address) as channel:
        yield channel


@asynccontextmanager
async def pact_server(pact: Pact) -> AsyncIterator[str]:
    """A gRPC server that plays the provider from the pact, and its address: a request
    equal to one the pact names gets that interaction's response (or its failure, as the
    chassis sends one: the code and an ErrorInfo); any other is answered
    FAILED_PRECONDITION with the request, so the consumer's test fails showing it. (A
    provider's own tests can put it where a dependency of theirs is expected.)"""
    answers: dict[tuple[str, str], str] = {}
    for message in pact.interactions("Sync"):
        request = message.request_contents
        method = next(m.value for m in request.metadata if m.key == GRPC_METHOD)
        [response] = message.response_contents
        answers[method.strip('"'), _canonical(str(request.contents))] = str(response.contents)

    server = grpc.aio.server()
    server.add_generic_rpc_handlers([_PactHandler(answers)])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await server.stop(None)


def _canonical(body: str) -> str:
    return json.dumps(json.loads(body), sort_keys=True)


def _message_class(full_name: str) -> type[Message]:
    descriptor = descriptor_pool.Default().FindMessageTypeByName(full_name)
    return message_factory.GetMessageClass(descriptor)


def _method_types(method: str) -> tuple[type[Message], type[Message]]:
    service, name = method.strip("/").split("/")
    descriptor = descriptor_pool.Default().FindServiceByName(service).FindMethodByName(name)
    return (
        _message_class(descriptor.input_type.full_name),
        _message_class(descriptor.output_type.full_name),
    )


class _PactHandler(grpc.GenericRpcHandler):
    def __init__(self, answers: Mapping[tuple[str, str], str]) -> None:
        self._answers = answers

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler[Any, Any] | None:
        method: str = details.method
        request_type, response_type = _method_types(method)

        async def answer(request: Message, context: grpc.aio.ServicerContext[Any, Any]) -> Message:
            asked = _canonical(json_format.MessageToJson(request))
            response = self._answers.get((method, asked))
            if response is None:
                await context.abort(
                    grpc.StatusCode.FAILED_PRECONDITION,
                    f"the pact names no call of {method} with {asked}",
                )
            answer = json.loads(str(response))
            if GRPC_ERROR in answer:
                refusal = answer[GRPC_ERROR]
                info = json_format.ParseDict(refusal["errorInfo"], ErrorInfo())
                code = grpc.StatusCode[refusal["code"]]
                await status.abort(context, code, f"{info.reason} (from the pact)", [info])
            return json_format.ParseDict(answer, response_type())

        return grpc.unary_unary_rpc_method_handler(
            answer,
            request_deserializer=request_type.FromString,
            response_serializer=lambda reply: reply.SerializeToString(),
        )


def assert_committed(pact: Pact) -> None:
    """The pact the consumer's tests define is the one committed in pacts/, so a provider
    verifies what the consumer needs today. With SHOP_PACT_UPDATE=1 it is written there."""
    name = f"{pact.consumer}-{pact.provider}.json"
    if os.environ.get(UPDATE_ENV) == "1":
        pacts_dir().mkdir(exist_ok=True)
        (pacts_dir() / name).unlink(missing_ok=True)
        pact.write_file(pacts_dir(), overwrite=True)
        return
    with tempfile.TemporaryDirectory() as scratch:
        pact.write_file(scratch, overwrite=True)
        written = _contract(Path(scratch) / name)
    committed = pacts_dir() / name
    assert committed.is_file(), f"{committed} is missing: run the test with {UPDATE_ENV}=1"
    assert _contract(committed) == written, (
        f"{committed} is stale: the consumer's tests now say otherwise; "
        f"run them with {UPDATE_ENV}=1 and commit the pact"
    )


def _contract(path: Path) -> Any:
    """The pact without its metadata (which names the writing library's versions)."""
    document = json.loads(path.read_text())
    document.pop("metadata", None)
    return document


# --- what a provider verifies ------------------------------------------------------------


async def newest_event(
    db: Database, event_type: type[Message], aggregate: str = ""
) -> EventEnvelope:
    """The newest `event_type` in the outbox (about `aggregate`, when given): what the
    provider's real use case just wrote, as the relay would publish it."""
    name = event_type.DESCRIPTOR.full_name
    written = [
        e.envelope for e in await outbox_events(db, aggregate=aggregate) if e.envelope.type == name
    ]
    assert written, f"the outbox holds no {name}"
    return written[-1]


async def emptied(db: Database) -> None:
    """Every table of the service's database emptied (the schema revision kept)."""
    async with db.transaction() as conn:
        tables = await conn.execute(
            text(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                " AND tablename <> 'alembic_version'"
            )
        )
        names = [row[0] for row in tables]
        if names:
            await conn.execute(text(f"TRUNCATE {', '.join(names)}"))


async def verify_provider(
    provider: str,
    *,
    events: Mapping[str, Producer] | None = None,
    states: Mapping[str, StateSetup] | None = None,
    channel: grpc.aio.Channel | None = None,
    reset: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Verifies every pact in pacts/ whose provider is `provider` (only SHOP_PACT_CONSUMER's,
    when set) on the provider's real code: an event description names its producer in
    `events`; a call is run through `channel` (the provider's in-process instance); each
    interaction's provider states are set up first by `states`; `reset` (e.g.
    `lambda: emptied(db)`) runs before the first interaction and after each one, so
    interactions do not see each other's data. A state that
    creates what the consumer names by an example id (the payment it captures) returns
    {example id: real id}, and the request is sent with the real one. Fails with Pact's
    report, which names the consumer, the interaction and the field."""
    loop = asyncio.get_running_loop()
    producers = dict(events or {})
    setups = dict(states or {})

    def run(work: Awaitable[T]) -> T:  # in the verifier's thread, on the test's loop
        return asyncio.run_coroutine_threadsafe(_awaited(work), loop).result()

    failures: list[str] = []  # what the provider raised: Pact reports only "status 500"
    aliases: dict[str, str] = {}

    def produce(name: str, metadata: dict[str, Any] | None) -> PactMessage:
        try:
            reply = _produce(name, (metadata or {}).get("request"))
        except Exception as error:
            failures.append(f"{name!r}: {error!r}")
            raise
        return PactMessage(contents=reply.encode(), metadata=None, content_type=JSON)

    def _produce(name: str, request: dict[str, Any] | None) -> str:
        if request is not None:
            assert channel is not None, f"{provider} serves no calls here, but {name!r} is one"
            return run(_call(channel, request, aliases))
        if name not in producers:
            raise KeyError(f"{provider} produces no {name!r}: add it to `events`")
        return json_format.MessageToJson(run(producers[name]()))

    def set_up(state: str, action: str, parameters: dict[str, Any] | None) -> None:
        if action == "teardown":
            aliases.clear()
            if reset is not None:
                run(reset())
        elif state:
            if state not in setups:
                raise KeyError(f"{provider} cannot be put in the state {state!r}: add it")
            created = run(setups[state](parameters or {}))
            aliases.update(created or {})

    verifier = Verifier(provider, host="127.0.0.1").message_handler(produce)
    verifier.set_coloured_output(enabled=False)
    verifier.state_handler(set_up, teardown=True)
    for source in _pacts_on(provider, http=False):
        verifier.add_source(source)
    only = os.environ.get(CONSUMER_ENV)
    if only:
        verifier.filter_consumers(only)
    if reset is not None:
        await reset()
    try:
        await asyncio.to_thread(verifier.verify)
    except RuntimeError as broken:
        raised = "".join(f"\n{provider} raised on {what}" for what in failures)
        raise AssertionError(
            f"{provider} breaks a consumer's pact:\n{verifier.output(strip_ansi=True)}{raised}"
        ) from broken


def http_pacts(provider: str) -> list[Path]:
    """The pacts of `provider`'s HTTP API (its REST clients'): verified through the
    gateway on a whole stack, not in-process (verify_provider leaves them out)."""
    return _pacts_on(provider, http=True)


def _pacts_on(provider: str, *, http: bool) -> list[Path]:
    return [
        path for path in sorted(pacts_dir().glob(f"*-{provider}.json")) if _is_http(path) == http
    ]


def _is_http(path: Path) -> bool:
    interactions = json.loads(path.read_text()).get("interactions", [])
    return any(i.get("type") == "Synchronous/HTTP" for i in interactions)


def _aliased(value: Any, aliases: Aliases) -> Any:
    if isinstance(value, str):
        return aliases.get(value, value)
    if isinstance(value, list):
        return [_aliased(item, aliases) for item in value]
    if isinstance(value, dict):
        return {key: _aliased(item, aliases) for key, item in value.items()}
    return value


async def _awaited(work: Awaitable[T]) -> T:
    return await work


async def _call(channel: grpc.aio.Channel, request: Mapping[str, Any], aliases: Aliases) -> str:
    """The pact's request through the provider's real servicer (with the state's real ids
    for the consumer's example ones); its answer in the JSON mapping."""
    method = str(request["metadata"][GRPC_METHOD])
    request_type, response_type = _method_types(method)
    body = _aliased(request["contents"]["content"], aliases)
    message = json_format.ParseDict(body, request_type())
    stub: grpc.aio.UnaryUnaryMultiCallable[Message, Message] = channel.unary_unary(
        method,
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=response_type.FromString,
    )
    try:
        reply: Message = await stub(message)
    except grpc.aio.AioRpcError as error:
        info = status.error_info(error) or ErrorInfo()
        refusal = {"code": error.code().name, "errorInfo": json_format.MessageToDict(info)}
        return json.dumps({GRPC_ERROR: refusal})
    return json_format.MessageToJson(reply)
