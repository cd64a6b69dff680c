"""The starter stock (seed_stock.json): opening stock and low-stock thresholds for the
catalog's products, applied on every start through the ordinary open_stock use case.

The SKUs are the catalog's seed SKUs, copied rather than imported: a service never imports
another service's code, and inventory learns of products only through stock it records.
Each entry's idempotency key is derived from its SKU and the file's `revision`, so applying
the seed again (a restart, or two instances starting together) is a no-op. The seed never
overwrites the on_hand of a SKU inventory already holds (only adjustments change stock that
exists); bump `revision` to apply edited thresholds or to open newly added SKUs.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from chassis.domain import IdempotencyKeyReused
from chassis.uow import UnitOfWork
from inventory import service
from inventory.domain import OpeningStock
from inventory.repository import Repositories

SEED_FILE = Path(__file__).with_name("seed_stock.json")
# Fixed forever: changing it would re-apply every revision's seed under new keys.
SEED_NAMESPACE = uuid.UUID("0d6a3f8e-91c4-4b7a-b2e5-6c1f4d8a9e27")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Seed:
    revision: int
    stock: list[OpeningStock]


def load(path: Path = SEED_FILE) -> Seed:
    document = json.loads(path.read_text())
    stock = [
        OpeningStock(
            sku=entry["sku"],
            on_hand=int(entry["on_hand"]),
            low_stock_threshold=entry.get("low_stock_threshold"),
        )
        for entry in document["stock"]
    ]
    return Seed(revision=int(document["revision"]), stock=stock)


def idempotency_key(sku: str, revision: int) -> str:
    return str(uuid.uuid5(SEED_NAMESPACE, f"seed/{revision}/{sku}"))


async def apply(unit_of_work: Callable[[], UnitOfWork[Repositories]], seed: Seed) -> None:
    """Opens every seeded SKU; those already applied at this revision are untouched."""
    for opening in seed.stock:
        try:
            await service.open_stock(
                unit_of_work(),
                idempotency_key=idempotency_key(opening.sku, seed.revision),
                opening=opening,
                reason=f"opening stock (seed revision {seed.revision})",
            )
        except IdempotencyKeyReused:
            # The entry was edited without bumping the revision: keep what is stored.
            log.warning("seed entry %s changed without a new revision; not applied", opening.sku)
    log.info("seed revision %d applied (%d SKUs)", seed.revision, len(seed.stock))
