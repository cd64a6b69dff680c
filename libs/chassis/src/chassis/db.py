"""The service's database: a pooled SQLAlchemy async engine on psycopg 3, used through
SQLAlchemy Core (explicit SQL, no ORM unit of work on the hot path)."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine


class Database:
    def __init__(self, url: str) -> None:
        """`url`: postgresql+psycopg://role:password@host:port/database."""
        self.engine: AsyncEngine = create_async_engine(url)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """One transaction: committed when the block ends, rolled back if it raises."""
        async with self.engine.begin() as conn:
            yield conn

    async def dispose(self) -> None:
        """Closes the pool's connections (on shutdown)."""
        await self.engine.dispose()
