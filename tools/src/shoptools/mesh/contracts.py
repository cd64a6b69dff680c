"""The contract model now lives in shoptools.contracts.model (shared by the mesh and the
stack); these names stay importable from here for code written against the old place."""

from shoptools.contracts.model import Access, Method, Service, descriptor_set, load_contracts

__all__ = ["Access", "Method", "Service", "descriptor_set", "load_contracts"]
