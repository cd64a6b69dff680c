"""Dependency faults every service must survive, as scenarios its own tests run against
its real instance and a real PostgreSQL; they return what a caller saw, the test asserts.

    observations = await database_outage(app, private_server, call=get_some_product)
    assert observations.during == grpc.StatusCode.UNAVAILABLE
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import grpc
import grpc.aio
from google.rpc import error_details_pb2

from chassis import status
from chassis.app import Runtime, ServiceApp
from chassis.db import Database
from chassis.migrations import upgrade_to_head
from chassis.testing.plugin import PostgresServer, instance_settings
from chassis.testing.server import health, serving, until_serving

Call = Callable[[grpc.aio.Channel], Awaitable[object]]
"""One call of the service that needs its database, e.g. a GetProduct."""

WAIT_S = 30.0  # for health to follow the database; generous for a loaded machine


@dataclass(frozen=True)
class Answer:
    code: grpc.StatusCode
    retry_hint: bool  # a google.rpc.RetryInfo came with it


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
            await asyncio.wait_for(until_serving(channel, serving=False), WAIT_S)
            health_during = await health(channel)
            await asyncio.to_thread(postgres.start)
            await asyncio.wait_for(until_serving(channel), WAIT_S)
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
