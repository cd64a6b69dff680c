"""Benchmarks of the running system (`shop bench ...`).

reads    GetProduct and ListProducts through the gateway, the sidecar and the app, against
         the floor (a bare grpc.aio servicer behind the same mesh)
orders   PlaceOrder through the gateway until CONFIRMED: throughput, latencies, event lag,
         CPU per kind of process, against the ceiling of the building blocks
ceiling  what an order's building blocks cost on this machine (gRPC, Envoy, Postgres, NATS)
watch    order outcomes and event lag, seen on NATS
load     one load-generator process (the benchmarks run several)
floor    the bare servicer
measure  CPU time per kind of process, percentiles
"""
