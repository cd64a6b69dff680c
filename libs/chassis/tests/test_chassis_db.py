"""Database.transaction(): one transaction per block, against a real PostgreSQL."""

import asyncio

import pytest
from sqlalchemy import text

from chassis.db import Database


class Boom(Exception):
    pass


async def insert_then_fail(db: Database) -> None:
    async with db.transaction() as conn:
        await conn.execute(text("INSERT INTO notes VALUES ('undone')"))
        raise Boom


def test_a_transaction_commits_when_the_block_ends_and_rolls_back_when_it_raises(
    database_url: str,
) -> None:
    async def scenario() -> list[str]:
        db = Database(database_url)
        try:
            async with db.transaction() as conn:
                await conn.execute(text("CREATE TABLE notes (body text)"))
                await conn.execute(text("INSERT INTO notes VALUES ('kept')"))
            with pytest.raises(Boom):
                await insert_then_fail(db)
            async with db.transaction() as conn:
                return list(await conn.scalars(text("SELECT body FROM notes")))
        finally:
            await db.dispose()

    assert asyncio.run(scenario()) == ["kept"]
