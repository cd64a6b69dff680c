"""Wiring: `python -m notifications serve` runs the service, `python -m notifications migrate`
brings its database schema to head and exits. Configuration comes from SHOP_* environment
variables (the chassis's), SHOP_SMTP_URL and SHOP_NOTIFICATIONS_* ones (settings.py)."""

from __future__ import annotations

from pathlib import Path

from chassis.app import Runtime, ServiceApp, Wiring, Worker
from notifications.consumers import subscriptions
from notifications.domain import Channel
from notifications.grpc_api import ERRORS, NotificationsApi
from notifications.mailer import Mailer, SmtpMailer, SmtpServer
from notifications.repository import Repositories
from notifications.sender import Sender
from notifications.service import Clock, utc_now
from notifications.settings import NotificationsSettings

# services/notifications/migrations, beside the package's src/ directory.
MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"

# The channels this deployment has a provider for: email over SMTP. There is no SMS
# provider, so SetPreferences refuses sms_enabled (CHANNEL_NOT_AVAILABLE) and no SMS
# notifications are recorded.
CHANNELS = (Channel.EMAIL,)


def wire(
    runtime: Runtime,
    *,
    settings: NotificationsSettings | None = None,
    mailer: Mailer | None = None,
    clock: Clock = utc_now,
) -> Wiring:
    """The instance's servicer, its four subscriptions and the email sender. Tests pass
    their own settings (an SMTP server of theirs, quick retries) with functools.partial."""
    settings = settings or NotificationsSettings()
    unit_of_work = runtime.units_of_work(Repositories.on)
    mailer = mailer or SmtpMailer(
        SmtpServer.parse(settings.smtp_url), timeout_s=settings.smtp_timeout_s
    )
    sender = Sender(unit_of_work, mailer, settings, clock=clock)
    return Wiring(
        servicers=[NotificationsApi(unit_of_work, channels=frozenset(CHANNELS))],
        workers=[Worker("email-sender", sender.run)],
        subscriptions=subscriptions(unit_of_work, channels=CHANNELS, clock=clock),
    )


app = ServiceApp(
    "notifications",
    wire=wire,
    errors=ERRORS,
    migrations=MIGRATIONS_DIR,
    repositories=Repositories.on,
)
