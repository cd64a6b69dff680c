"""The starter catalog (seed_products.json), applied on every start through the ordinary
upsert use case.

Each product's idempotency key is derived from its SKU and the file's `revision`, so
applying the seed again (a restart, or two instances starting together) is a no-op. To
re-apply edited entries, bump `revision`: each product then gets a new version and events.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from google.protobuf import json_format

from catalog import service
from catalog.domain import ProductContent
from catalog.messages import content_from_proto
from catalog.repository import Repositories
from chassis.domain import IdempotencyKeyReused
from chassis.uow import UnitOfWork
from shop.catalog.v1 import product_pb2

SEED_FILE = Path(__file__).with_name("seed_products.json")
# Fixed forever: changing it would re-apply every revision's seed under new keys.
SEED_NAMESPACE = uuid.UUID("5b7c6f0e-2d1a-4c39-9a52-3f0e8a4d6c11")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Seed:
    revision: int
    products: list[ProductContent]


def load(path: Path = SEED_FILE) -> Seed:
    document = json.loads(path.read_text())
    products = [
        content_from_proto(json_format.ParseDict(entry, product_pb2.Product()))
        for entry in document["products"]
    ]
    return Seed(revision=int(document["revision"]), products=products)


def idempotency_key(sku: str, revision: int) -> str:
    return str(uuid.uuid5(SEED_NAMESPACE, f"seed/{revision}/{sku}"))


async def apply(unit_of_work: Callable[[], UnitOfWork[Repositories]], seed: Seed) -> None:
    """Upserts every seed product; those already applied at this revision are untouched."""
    for content in seed.products:
        try:
            await service.upsert_product(
                unit_of_work(),
                idempotency_key=idempotency_key(content.sku, seed.revision),
                content=content,
            )
        except IdempotencyKeyReused:
            # The entry was edited without bumping the revision: keep what is stored.
            log.warning("seed entry %s changed without a new revision; not applied", content.sku)
    log.info("seed revision %d applied (%d products)", seed.revision, len(seed.products))
