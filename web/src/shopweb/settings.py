"""What the web process needs to know, from its command line (the stack passes them)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class WebSettings:
    # The gateway's REST API, the only thing the pages call for data.
    gateway_url: str
    # Where the local token issuer keeps its signing key (shoptools.mesh.jwt): the
    # development sign-in page is served only when this is set, never in production.
    dev_identity_pki_dir: Path | None = None
    # The local stack's state directory, read by the console's stack view (`shop status`'s
    # sources: the run file, each instance's metrics, NATS); None where there is no stack.
    stack_state_dir: Path | None = None
    # Cookies marked Secure (behind TLS); off for the plain-HTTP local gateway.
    secure_cookies: bool = False
