"""Audit under dependency faults (the chassis's scenarios, chassis.testing.faults): a
database outage answers UNAVAILABLE, takes the instance out of rotation and heals by
itself; a full connection pool sheds calls as RESOURCE_EXHAUSTED."""

from __future__ import annotations

import grpc
import grpc.aio
import pytest

from chassis.app import ServiceApp
from chassis.testing.faults import assert_database_outage_survived, assert_full_pool_sheds
from shop.audit.v1 import audit_service_pb2 as pb
from shop.audit.v1.audit_service_pb2_grpc import AuditServiceStub

pytestmark = pytest.mark.anyio


async def verify_chain(channel: grpc.aio.Channel) -> object:
    return await AuditServiceStub(channel).VerifyChain(pb.VerifyChainRequest(), timeout=10)


async def test_a_database_outage_is_unavailable_and_the_instance_heals_by_itself(
    service_app: ServiceApp,
) -> None:
    await assert_database_outage_survived(service_app, verify_chain)


async def test_a_full_pool_sheds_the_call_instead_of_queueing_it(
    service_app: ServiceApp, clean_database: str
) -> None:
    await assert_full_pool_sheds(service_app, clean_database, verify_chain)
