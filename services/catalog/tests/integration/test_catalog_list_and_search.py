"""Listing (keyset pages, category filter) and full-text search against a real Postgres."""

import uuid

import pytest
from catalog_examples import UnitsOfWork, product

from catalog import seed, service
from catalog.service import Page
from chassis.db import Database
from chassis.page_tokens import InvalidPageToken

pytestmark = pytest.mark.anyio

SEED = seed.load()


async def list_all(uow: UnitsOfWork, *, category: str = "", page_size: int) -> list[Page]:
    pages = [
        await service.list_products(uow(), category=category, page_size=page_size, page_token="")
    ]
    while pages[-1].next_page_token:
        pages.append(
            await service.list_products(
                uow(), category=category, page_size=page_size, page_token=pages[-1].next_page_token
            )
        )
    return pages


async def search_all(uow: UnitsOfWork, query: str, *, page_size: int) -> list[Page]:
    pages = [await service.search_products(uow(), query=query, page_size=page_size, page_token="")]
    while pages[-1].next_page_token:
        pages.append(
            await service.search_products(
                uow(), query=query, page_size=page_size, page_token=pages[-1].next_page_token
            )
        )
    return pages


async def test_list_pages_walk_every_product_once_in_sku_order(
    uow: UnitsOfWork, db: Database
) -> None:
    await seed.apply(uow, SEED)

    pages = await list_all(uow, page_size=7)

    skus = [p.sku for page in pages for p in page.products]
    assert skus == sorted(c.sku for c in SEED.products)
    assert [len(page.products) for page in pages] == [7, 7, 7, 7, 7, 1]


async def test_page_size_defaults_to_20_and_is_capped_at_100(
    uow: UnitsOfWork, db: Database
) -> None:
    await seed.apply(uow, SEED)

    default = await service.list_products(uow(), category="", page_size=0, page_token="")
    capped = await service.list_products(uow(), category="", page_size=1000, page_token="")

    assert len(default.products) == 20
    assert default.next_page_token
    assert len(capped.products) == len(SEED.products)
    assert capped.next_page_token == ""


async def test_category_filter_lists_only_that_category(uow: UnitsOfWork, db: Database) -> None:
    await seed.apply(uow, SEED)

    pages = await list_all(uow, category="kitchen", page_size=2)

    listed = [p.sku for page in pages for p in page.products]
    expected = sorted(c.sku for c in SEED.products if "kitchen" in c.categories)
    assert listed == expected
    assert len(expected) > 2  # the walk really crossed pages


async def test_a_list_token_from_another_category_is_refused(
    uow: UnitsOfWork, db: Database
) -> None:
    await seed.apply(uow, SEED)
    first = await service.list_products(uow(), category="books", page_size=1, page_token="")

    with pytest.raises(InvalidPageToken) as error:
        await service.list_products(
            uow(), category="kitchen", page_size=1, page_token=first.next_page_token
        )
    assert error.value.field == "page_token"


async def test_search_ranks_a_name_match_above_a_description_only_match(
    uow: UnitsOfWork, db: Database
) -> None:
    for content in [
        product("OAK-TABLE", name="Oak Table", description="Pairs well with a walnut bench."),
        product("WALNUT-DESK", name="Walnut Desk", description="Solid wood."),
        product("STEEL-LAMP", name="Steel Lamp", description="Bright."),
    ]:
        await service.upsert_product(uow(), idempotency_key=str(uuid.uuid4()), content=content)

    page = await service.search_products(uow(), query="walnut", page_size=0, page_token="")

    assert [p.sku for p in page.products] == ["WALNUT-DESK", "OAK-TABLE"]


async def test_search_understands_web_search_syntax(uow: UnitsOfWork, db: Database) -> None:
    await seed.apply(uow, SEED)

    phrase = await service.search_products(
        uow(), query='"cast iron" -skillet', page_size=0, page_token=""
    )

    assert [p.sku for p in phrase.products] == ["KIT-DUTCH-OVEN-5L"]


async def test_search_pages_walk_the_ranked_results_exactly_once(
    uow: UnitsOfWork, db: Database
) -> None:
    await seed.apply(uow, SEED)
    everything = await service.search_products(uow(), query="steel", page_size=100, page_token="")

    pages = await search_all(uow, "steel", page_size=2)

    walked = [p.sku for page in pages for p in page.products]
    assert walked == [p.sku for p in everything.products]
    assert len(walked) > 4


async def test_a_search_token_from_another_query_is_refused(uow: UnitsOfWork, db: Database) -> None:
    await seed.apply(uow, SEED)
    first = await service.search_products(uow(), query="steel", page_size=1, page_token="")

    with pytest.raises(InvalidPageToken) as error:
        await service.search_products(
            uow(), query="coffee", page_size=1, page_token=first.next_page_token
        )
    assert error.value.field == "page_token"
