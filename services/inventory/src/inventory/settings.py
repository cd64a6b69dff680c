"""Inventory's own configuration, beside the chassis's ServiceSettings: SHOP_INVENTORY_*
environment variables, each with a default that suits the local stack."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class InventorySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SHOP_INVENTORY_", frozen=True)

    reservation_ttl_s: float = Field(default=900.0, ge=1, le=3600)
    """How long a reservation holds stock when ReserveStock sets no ttl (the contract's
    bounds). It must outlast the saga steps between Try and Confirm."""
    expiry_sweep_interval_s: float = Field(default=1.0, gt=0)
    """How often the sweeper looks for overdue reservations; an overdue one holds its
    stock at most this much longer (confirming it is refused at once)."""

    @property
    def reservation_ttl(self) -> timedelta:
        return timedelta(seconds=self.reservation_ttl_s)
