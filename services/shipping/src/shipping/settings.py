"""Shipping's own configuration, beside the chassis's ServiceSettings: SHOP_SHIPPING_*
environment variables, each with a default that suits the local stack."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shipping.rates import RATE_TABLE_FILE


class ShippingSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SHOP_SHIPPING_", frozen=True)

    dispatch_delay_s: float = Field(default=120.0, ge=0)
    """How long after its creation the carrier picks a shipment up (the dispatch timer);
    until then it can be cancelled."""
    dispatch_interval_s: float = Field(default=1.0, gt=0)
    """How often the dispatch timer looks for due shipments; a due shipment waits at most
    this much longer."""
    rate_table: Path = RATE_TABLE_FILE
    """The rate table file (README: "The rate table"); the packaged one by default."""

    @property
    def dispatch_delay(self) -> timedelta:
        return timedelta(seconds=self.dispatch_delay_s)
