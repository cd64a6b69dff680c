"""The stack view's memory: a background task takes a `shop status` report
(shoptools.stack.status.collect) every few seconds and keeps the last ones in a bounded
ring buffer, so the page can chart the last minutes. Started on a visit to the stack view,
it stops once nobody has looked for a while: sampling probes every component of the stack,
measured at about 0.08 cores while it runs, too much to spend on a page nobody reads."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from starlette.applications import Starlette

from shoptools.stack import runfile, status
from shoptools.topology import Topology
from shopweb.console.series import Sample
from shopweb.settings import WebSettings

SAMPLE_EVERY_S = 5.0
KEPT = 120  # ten minutes of samples
IDLE_S = 600.0  # a visit's sampling stops when the page was not looked at for this long
log = logging.getLogger(__name__)

Collect = Callable[[Topology], dict[str, Any]]


class Sampler:
    def __init__(
        self,
        state_dir: Path,
        every_s: float = SAMPLE_EVERY_S,
        kept: int = KEPT,
        collect: Collect = status.collect,
        idle_s: float = IDLE_S,
    ) -> None:
        self.state_dir = state_dir
        self.every_s = every_s
        self.idle_s = idle_s
        self.samples: deque[Sample] = deque(maxlen=kept)
        self._collect = collect
        self._task: asyncio.Task[None] | None = None
        self._last_view = time.monotonic()

    def start(self) -> None:
        """Sample (again): a visit. After an idle stop the old samples are stale: a
        chart across the gap would mislead."""
        self._last_view = time.monotonic()
        if self._task is None or self._task.done():
            if self._task is not None:
                self.samples.clear()
            self._task = asyncio.create_task(self._run(), name="console-stack-sampler")

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def sample(self) -> None:
        """One report, taken in a worker thread: collect blocks (it probes every
        component and runs its own event loop for gRPC health and NATS)."""
        topology = runfile.running_topology(self.state_dir)
        report = await asyncio.to_thread(self._collect, topology)
        self.samples.append(Sample(time.time(), report))

    async def _run(self) -> None:
        # Waits first: the page that started it takes the first sample itself.
        while time.monotonic() - self._last_view < self.idle_s:
            await asyncio.sleep(self.every_s)
            try:
                await self.sample()
            except Exception:  # one failed sample must not end the sampling
                log.exception("sampling the stack failed")


def sampler_for(app: Starlette) -> Sampler | None:
    """The app's sampler, (re)started: a visit; None without a local stack."""
    found: Sampler | None = getattr(app.state, "console_sampler", None)
    if found is None:
        settings: WebSettings = app.state.settings
        if settings.stack_state_dir is None:
            return None
        found = app.state.console_sampler = Sampler(settings.stack_state_dir)
    found.start()
    return found


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    """For the app's lifespan: a sampler a visit started is stopped at shutdown."""
    try:
        yield
    finally:
        sampler: Sampler | None = getattr(app.state, "console_sampler", None)
        if sampler is not None:
            await sampler.stop()
