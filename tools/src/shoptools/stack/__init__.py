"""The local stack: PostgreSQL, NATS, the mesh and the services, started and supervised."""
