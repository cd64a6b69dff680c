"""The Shopmesh microservice chassis: what every service gets instead of writing it again.

app           ServiceApp: a service declared in a few lines (servicers, migrations, errors,
              on_start hooks, workers) and the process that runs it (`python -m <svc>`)
uow           the unit of work: a transaction, the idempotency key and emitted events
              committing together; retry_conflicts for serialization failures and deadlocks
domain        DomainError, the base of every service's domain exceptions (no gRPC)
errors        typed errors both ways: ErrorMap (exception -> code + ErrorReason), PeerError
faults        the fault taxonomy: dependency failures -> UNAVAILABLE / RESOURCE_EXHAUSTED /
              DEADLINE_EXCEEDED, only bugs INTERNAL
server        the gRPC server: interceptors, health and readiness, reflection, migration gate
interceptors  correlation, access log, metrics, tracing, deadline, validation, errors
context       the current call's correlation id, caller, trace id and deadline
clients       channel(): calls to other services through the mesh sidecar
status        rich error details (google.rpc.Status) for servers and callers
config        ServiceSettings, read from SHOP_* environment variables
db            Database: a bounded, observed pool of async SQLAlchemy Core connections
idempotency   the idempotency keys table; outbox: events in their envelopes, in the outbox
records       domain values as canonical JSON (stored outcomes, request fingerprints)
migrations    MigrationGate, the Alembic environment and the chassis tables
logs          JSON log lines; telemetry: the OpenTelemetry tracer provider
testing       the pytest plugin, the in-memory unit of work, fault scenarios
"""
