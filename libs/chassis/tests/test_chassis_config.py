"""ServiceSettings: what the stack's SHOP_* environment variables mean."""

import pytest
from pydantic import ValidationError

from chassis.config import ServiceSettings


def test_settings_come_from_shop_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "SHOP_SERVICE": "catalog",
        "SHOP_INSTANCE": "catalog-2",
        "SHOP_GRPC_PORT": "8181",
        "SHOP_METRICS_PORT": "8281",
        "SHOP_DATABASE_URL": "postgresql+psycopg://catalog_svc:pw@127.0.0.1:8084/catalog",
        "SHOP_MESH_OUTBOUND": "127.0.0.1:8481",
        "SHOP_DEFAULT_DEADLINE_S": "2.5",
        "SHOP_LOG_LEVEL": "DEBUG",
    }.items():
        monkeypatch.setenv(name, value)

    settings = ServiceSettings()

    assert (settings.service, settings.instance) == ("catalog", "catalog-2")
    assert (settings.grpc_port, settings.metrics_port) == (8181, 8281)
    assert settings.mesh_outbound == "127.0.0.1:8481"
    assert settings.default_deadline_s == 2.5
    assert settings.log_level == "DEBUG"


def test_the_instance_defaults_to_the_service_name() -> None:
    settings = ServiceSettings(service="orders", database_url="postgresql+psycopg://x@/orders")

    assert settings.instance == "orders"


def test_a_missing_service_name_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SHOP_SERVICE", raising=False)

    with pytest.raises(ValidationError, match="service"):
        ServiceSettings(database_url="postgresql+psycopg://x@/orders")
