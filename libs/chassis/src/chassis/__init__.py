"""The Shopmesh microservice chassis: what every service gets instead of writing it again.

config        ServiceSettings, read from SHOP_* environment variables
server        serve(): gRPC server, interceptors, health, reflection, metrics, migration gate
interceptors  correlation, access log, metrics, tracing, deadline, validation, errors
context       the current call's correlation id, caller, trace id and deadline
clients       channel(): calls to other services through the mesh sidecar
errors        DomainError and its subclasses, mapped to gRPC status codes
status        rich error details (google.rpc.Status) for servers and callers
db            Database: pooled async SQLAlchemy Core over psycopg 3
idempotency   run_once(): one outcome per idempotency key
outbox        add_event(): domain events written in the state change's transaction
migrations    MigrationGate and the Alembic helpers for the chassis tables
logs          JSON log lines; telemetry: the OpenTelemetry tracer provider
"""
