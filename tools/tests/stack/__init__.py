"""Tests of the local stack: real PostgreSQL, NATS, Envoy and service processes."""
