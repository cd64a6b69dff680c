"""Dependency faults every service must survive, as scenarios its own tests run against
its real instance and a real PostgreSQL. A service's faults test is two lines per case:

    async def test_a_database_outage_is_survived(service_app: ServiceApp) -> None:
        await assert_database_outage_survived(service_app, get_some_product)

(`database_outage` and `pool_exhausted` return what a caller saw, for other assertions.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import grpc
import grpc.aio
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2

from chassis import status
from chassis.app import Runtime, ServiceApp
from chassis.db import Database
from chassis.migrations import upgrade_to_head
from chassis.testing.plugin import PostgresServer, instance_settings, private_postgres
from chassis.testing.server import health, serving, until_serving

Call = Callable[[grpc.aio.Channel], Awaitable[object]]
"""One call of the service that needs its database, e.g. a GetProduct."""

WAIT_S = 30.0  # for health to follow the database; generous for a loaded machine


@dataclass(frozen=True)
class Answer:
    code: grpc.StatusCode
    retry_hint: bool  # a google.rpc.RetryInfo came with it


OK = Answer(grpc.StatusCode.OK, retry_hint=False)


@dataclass(frozen=True)
class OutageObservations:
    before: Answer  # the database is up
    during: Answer  # the database is down
    health_during: int  # the instance's health once it noticed
    health_after: int  # once the database is back (same instance, never restarted)
    after: Answer


async def answer(call: Awaitable[object]) -> Answer:
    try:
        await call
    except grpc.aio.AioRpcError as error:
        hint = status.detail(error, error_details_pb2.RetryInfo) is not None
        return Answer(error.code(), hint)
    return Answer(grpc.StatusCode.OK, False)


async def database_outage(
    app: ServiceApp, postgres: PostgresServer, call: Call
) -> OutageObservations:
    """Stops `postgres` under a running instance, then starts it again. The server must be
    the test's own (the session's is shared): see chassis.testing.plugin.private_postgres."""
    url = await asyncio.to_thread(postgres.create_database, f"{app.name}_outage")
    await asyncio.to_thread(upgrade_to_head, url, app.migrations)
    db = Database(url)
    settings = instance_settings(app.name, url, readiness_interval_s=0.05)
    try:
        async with serving(app, Runtime(settings, db)) as channel:
            before = await answer(call(channel))
            await asyncio.to_thread(postgres.stop)
            during = await answer(call(channel))
            async with asyncio.timeout(WAIT_S):
                await until_serving(channel, serving=False)
            health_during = await health(channel)
            await asyncio.to_thread(postgres.start)
            async with asyncio.timeout(WAIT_S):
                await until_serving(channel)
            health_after = await health(channel)
            after = await answer(call(channel))
    finally:
        await db.dispose()
    return OutageObservations(before, during, health_during, health_after, after)


async def pool_exhausted(app: ServiceApp, database_url: str, call: Call) -> Answer:
    """What a call gets while every connection is busy: a pool of one transaction and one
    read connection, both held."""
    db = Database(database_url, pool_size=1, pool_timeout_s=0.1)
    settings = instance_settings(app.name, database_url, db_pool_size=1)
    try:
        async with serving(app, Runtime(settings, db)) as channel:
            held = await db.connect()
            try:
                async with db.reading():
                    return await answer(call(channel))
            finally:
                await held.close()
    finally:
        await db.dispose()


async def assert_database_outage_survived(app: ServiceApp, call: Call) -> None:
    """What every service owes its callers when its database goes away and comes back:
    UNAVAILABLE with a retry hint meanwhile (never INTERNAL), out of rotation, and back by
    itself. Runs on a PostgreSQL server of its own (it stops it)."""
    with private_postgres() as postgres:
        seen = await database_outage(app, postgres, call)
    assert seen.before == OK
    assert seen.during == Answer(grpc.StatusCode.UNAVAILABLE, retry_hint=True)
    assert seen.health_during == health_pb2.HealthCheckResponse.NOT_SERVING
    assert seen.health_after == health_pb2.HealthCheckResponse.SERVING
    assert seen.after == OK


async def assert_full_pool_sheds(app: ServiceApp, database_url: str, call: Call) -> None:
    """A call that finds every connection busy is shed at once with RESOURCE_EXHAUSTED and a
    retry hint: not DEADLINE_EXCEEDED, so it did not wait out its deadline in a queue."""
    seen = await pool_exhausted(app, database_url, call)
    assert seen == Answer(grpc.StatusCode.RESOURCE_EXHAUSTED, retry_hint=True)
