"""The topology now lives in shoptools.topology (shared by the mesh and the stack); these
names stay importable from here for code written against the old place."""

from shoptools.identity import NAMESPACE, TRUST_DOMAIN, spiffe_id
from shoptools.topology import DEFAULT_BASE_PORT, Instance, Topology, port_is_free

__all__ = [
    "DEFAULT_BASE_PORT",
    "NAMESPACE",
    "TRUST_DOMAIN",
    "Instance",
    "Topology",
    "port_is_free",
    "spiffe_id",
]
