"""Benchmarks of the running system (`shop bench ...`).

reads    GetProduct and ListProducts through the gateway, the sidecar and the app, against
         the floor (a bare grpc.aio servicer behind the same mesh)
load     one load-generator process (the benchmark runs several)
floor    the bare servicer
measure  CPU time per kind of process, percentiles
"""
