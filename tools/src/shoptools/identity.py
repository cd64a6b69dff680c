"""Who a workload is in the mesh: a SPIFFE-style identity under one trust domain.

The PKI puts it in certificates, the sidecars check it; shared by the mesh and the stack.
"""

from __future__ import annotations

TRUST_DOMAIN = "shop.local"
NAMESPACE = "shop"


def spiffe_id(identity: str) -> str:
    """The SPIFFE-style identity carried in a workload's certificate."""
    return f"spiffe://{TRUST_DOMAIN}/ns/{NAMESPACE}/sa/{identity}"
