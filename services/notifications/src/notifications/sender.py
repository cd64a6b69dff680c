"""Delivery: a worker (chassis.app.Worker) that sends due PENDING notifications by email and
records what the SMTP server said. It runs on every instance; leases keep two instances from
sending the same notification at once.

- accepted: SENT, with NotificationSent in the outbox;
- refused temporarily (4xx): tried again with backoff, FAILED after bounded attempts;
  refused for good (5xx, e.g. an unknown recipient): FAILED at once;
- the server unreachable: the batch is postponed without counting an attempt, so an SMTP
  outage delays mail and never fails it; it goes out once the server is back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import timedelta

from chassis import faults
from chassis.uow import UnitOfWork
from notifications import service
from notifications.domain import Refusal
from notifications.mailer import Mailer, MailerUnavailable, MailRefused, email_for
from notifications.repository import Repositories
from notifications.service import Clock
from notifications.settings import NotificationsSettings

log = logging.getLogger(__name__)


class Sender:
    def __init__(
        self,
        unit_of_work: Callable[[], UnitOfWork[Repositories]],
        mailer: Mailer,
        settings: NotificationsSettings,
        *,
        clock: Clock = service.utc_now,
    ) -> None:
        self._uow = unit_of_work
        self._mailer = mailer
        self._settings = settings
        self._clock = clock

    async def run(self) -> None:
        """Runs until cancelled. A database fault skips a round (the instance's health
        already follows its database); anything else is a bug: the worker dies and the
        chassis restarts it."""
        while True:
            try:
                while await self.deliver_once() == self._settings.batch_size:
                    pass  # a full batch: more may be due
            except Exception as error:
                if faults.classify(error) is None:
                    raise
                log.warning("delivery round skipped: %s", error.__class__.__name__)
            await asyncio.sleep(self._settings.poll_interval_s)

    async def deliver_once(self) -> int:
        """One batch of due notifications; how many it took."""
        settings = self._settings
        due = await service.lease_due(
            self._uow(),
            lease=timedelta(seconds=settings.lease_s),
            limit=settings.batch_size,
            clock=self._clock,
        )
        for position, notification in enumerate(due):
            try:
                await self._mailer.send(email_for(notification, sender=settings.sender))
            except MailerUnavailable as down:
                rest = [n.notification_id for n in due[position:]]
                until = self._clock() + timedelta(seconds=settings.outage_retry_s)
                await service.postpone(self._uow(), rest, until=until)
                log.warning("SMTP unreachable (%s); %d notifications wait", down, len(rest))
                break
            except MailRefused as refused:
                after = await service.record_refused(
                    self._uow(),
                    notification.notification_id,
                    Refusal(str(refused), permanent=refused.permanent),
                    policy=settings.retry_policy,
                    clock=self._clock,
                )
                log.warning(
                    "SMTP refused notification %s: %s (now %s)",
                    notification.notification_id,
                    refused,
                    after.status.name if after else "taken over",
                )
            else:
                await service.record_sent(
                    self._uow(), notification.notification_id, clock=self._clock
                )
                log.info(
                    "sent notification %s (%s) to customer %s",
                    notification.notification_id,
                    notification.topic.name,
                    notification.customer_id,
                )
        return len(due)
