"""How a service process reads its configuration: SHOP_* environment variables."""

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """Everything the stack (or a Kubernetes manifest) tells a service instance."""

    # Required fields default to "" only so that `ServiceSettings()` type-checks; their
    # min_length rejects the default, so a missing SHOP_SERVICE still fails at startup.
    model_config = SettingsConfigDict(env_prefix="SHOP_", frozen=True, validate_default=True)

    service: str = Field(default="", min_length=1, pattern="^[a-z]+$")
    """Service name, e.g. "catalog"; also its mesh authority and error domain."""
    instance: str = Field(default_factory=lambda fields: str(fields.get("service", "")))
    """Instance name for logs and metric labels, e.g. "catalog-1"; defaults to the service."""
    database_url: str = Field(default="", min_length=1)
    """SQLAlchemy URL, postgresql+psycopg://role:password@host:port/database."""
    listen_host: str = "127.0.0.1"
    """Where the gRPC server listens: loopback behind a local sidecar; "0.0.0.0" on
    Kubernetes, where Linkerd's proxy forwards to the pod's own address, not loopback."""
    grpc_port: int = 50051
    metrics_port: int = 9464
    nats_url: str = "nats://127.0.0.1:4222"
    """Where the outbox relay publishes and consumers read, as whom:
    tls://<user>:<password>@host:port; empty: no relay (events stay in the outbox)."""
    nats_ca: str = ""
    """PEM file of the CA that signed the NATS server's certificate (chassis.broker reads
    SHOP_NATS_CA itself); empty: the system's CAs."""
    mesh_outbound: str = "127.0.0.1:8480"
    """Where every call to another service goes: the sidecar's outbound listener, or with
    "{service}" in it the callee's own address (on Kubernetes "{service}:50051": Linkerd
    routes by the Service a connection is made to)."""
    default_deadline_s: float = 5.0
    """Deadline of incoming calls that carry none, and of outgoing calls made outside one."""
    shutdown_grace_s: float = 10.0
    """How long in-flight calls may run on after SIGTERM before they are cancelled."""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    migration_check_interval_s: float = 2.0
    db_pool_size: int = Field(default=10, ge=1)
    """The most database connections the instance opens."""
    db_pool_timeout_s: float = Field(default=0.5, gt=0)
    """How long a call waits for a free connection before it is shed (RESOURCE_EXHAUSTED)."""
    readiness_interval_s: float = Field(default=1.0, gt=0)
    """How often the instance checks that its database answers (its health follows it)."""
    relay_poll_interval_s: float = Field(default=1.0, gt=0)
    """How often the outbox relay looks for events when no commit woke it."""
    outbox_retention_s: float = Field(default=86_400.0, gt=0)
    """How long published events stay in the outbox (for inspection) before deletion."""
