"""What the web process needs to know, from its command line (the stack passes them)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class OidcConfig:
    """An OpenID Connect provider that signs visitors in (shopweb.oidc)."""

    issuer: str  # its discovery document is at <issuer>/.well-known/openid-configuration
    client_id: str
    client_secret: str
    scope: str = "openid"


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
    # Signing in through an identity provider instead (never with the development one).
    oidc: OidcConfig | None = None
    # The site's address as visitors reach it (https://shop.example.com), for the
    # provider's redirect back; by default the address each request came to.
    public_url: str | None = None

    def __post_init__(self) -> None:
        if self.oidc is not None and self.dev_identity_pki_dir is not None:
            raise ValueError("sign in through an identity provider or the development one")

    @property
    def can_sign_in(self) -> bool:
        return self.oidc is not None or self.dev_identity_pki_dir is not None
