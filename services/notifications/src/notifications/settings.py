"""Notifications' own configuration, beside the chassis's ServiceSettings: where mail goes
(SHOP_SMTP_URL, set by the local stack to its SMTP sink) and how delivery behaves
(SHOP_NOTIFICATIONS_* variables), each with a default that suits the local stack."""

from __future__ import annotations

from datetime import timedelta

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from notifications.domain import RetryPolicy


class NotificationsSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SHOP_NOTIFICATIONS_", frozen=True, populate_by_name=True
    )

    smtp_url: str = Field(
        default="smtp://127.0.0.1:8085",
        validation_alias=AliasChoices("SHOP_SMTP_URL", "SHOP_NOTIFICATIONS_SMTP_URL"),
        pattern=r"^(smtp|smtps|smtp\+starttls)://",
    )
    """The SMTP server: smtp://[user:password@]host:port (plain), smtp+starttls://... (STARTTLS
    before anything else), smtps://... (TLS from the start). The default is the local
    stack's sink on the default base port."""
    sender: str = "Shopmesh <notifications@shop.local>"
    """The From: of every email."""
    smtp_timeout_s: float = Field(default=10.0, gt=0)
    """How long one SMTP conversation may take before the server counts as unreachable."""
    poll_interval_s: float = Field(default=0.5, gt=0)
    """How often the sender looks for due notifications when the last round found none."""
    outage_retry_s: float = Field(default=2.0, gt=0)
    """How soon a notification is tried again after the SMTP server could not be reached."""
    lease_s: float = Field(default=60.0, gt=0)
    """How long one sender holds a notification it is delivering; it must outlast an SMTP
    conversation. A sender that dies holding one lets it be sent again after this."""
    batch_size: int = Field(default=20, ge=1)
    max_attempts: int = Field(default=5, ge=1)
    """Deliveries the SMTP server may refuse temporarily (4xx) before the notification FAILS."""
    retry_base_s: float = Field(default=2.0, gt=0)
    """Delay after the first temporary refusal, doubling after each."""

    @property
    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(self.max_attempts, timedelta(seconds=self.retry_base_s))
