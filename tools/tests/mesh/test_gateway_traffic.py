"""Real HTTP through the real gateway: REST transcoding, tokens, roles, rate limiting,
and the web pages routed to the web process (here a fake one)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from shoptools.mesh.jwt import mint_token
from shoptools.mesh.policy import MeshPolicy, parse_policy

from .conftest import TEST_POLICY, StartMesh, mesh_factory
from .harness import Mesh

PRODUCT = {
    "idempotency_key": "6f1f5b9e-5d43-4d0e-9a57-0c8f6a1d2b3c",
    "product": {
        "sku": "SKU-9",
        "name": "Nine",
        "price": {"currency_code": "EUR", "amount_minor": 999},
    },
}


@pytest.fixture(scope="module")
def gateway_mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    with mesh_factory(tmp_path_factory.mktemp("gateway"), parse_policy(TEST_POLICY)) as start:
        yield start(services={"catalog": 1}, gateway=True)


@pytest.fixture
def api(gateway_mesh: Mesh) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"http://127.0.0.1:{gateway_mesh.topology.gateway_port}") as c:
        yield c


def bearer(mesh: Mesh, role: str, subject: str = "someone") -> dict[str, str]:
    token = mint_token(mesh.topology.pki_dir, subject, "admin" if role == "admin" else "customer")
    return {"authorization": f"Bearer {token}"}


def test_an_anonymous_rest_call_is_transcoded_to_the_service(
    gateway_mesh: Mesh, api: httpx.Client
) -> None:
    response = api.get("/v1/products/SKU-1", headers={"x-request-id": "req-42"})

    assert response.status_code == 200
    product = response.json()["product"]
    assert product["sku"] == "SKU-1"
    assert product["name"] == "served by catalog-1"
    assert product["weight_grams"] == 0  # proto field names, defaults printed
    assert response.headers["x-request-id"] == "req-42"
    seen = gateway_mesh.apps["catalog-1"].calls[-1]
    assert seen["x-request-id"] == "req-42"
    assert "URI=spiffe://shop.local/ns/shop/sa/gateway" in seen["x-forwarded-client-cert"]


def test_a_grpc_error_becomes_its_http_status(api: httpx.Client) -> None:
    response = api.get("/v1/products/SKU-404")

    assert response.status_code == 404
    assert response.json()["message"] == "no product SKU-404"


def test_an_admin_method_without_a_token_is_unauthenticated(api: httpx.Client) -> None:
    assert api.post("/admin/v1/products", json=PRODUCT).status_code == 401


def test_an_admin_method_with_a_customer_token_is_forbidden(
    gateway_mesh: Mesh, api: httpx.Client
) -> None:
    response = api.post(
        "/admin/v1/products", json=PRODUCT, headers=bearer(gateway_mesh, "customer")
    )
    assert response.status_code == 403


def test_an_admin_token_reaches_the_service_with_its_verified_claims(
    gateway_mesh: Mesh, api: httpx.Client
) -> None:
    response = api.post(
        "/admin/v1/products", json=PRODUCT, headers=bearer(gateway_mesh, "admin", "ada")
    )

    assert response.status_code == 200
    assert response.json() == {"product": response.json()["product"], "created": True}
    seen = gateway_mesh.apps["catalog-1"].calls[-1]
    assert (seen["x-shop-subject"], seen["x-shop-role"]) == ("ada", "admin")
    assert "authorization" not in seen


def test_clients_cannot_forge_the_verified_claims(gateway_mesh: Mesh, api: httpx.Client) -> None:
    response = api.get(
        "/v1/products/SKU-1", headers={"x-shop-subject": "ada", "x-shop-role": "admin"}
    )

    assert response.status_code == 200
    seen = gateway_mesh.apps["catalog-1"].calls[-1]
    assert "x-shop-subject" not in seen
    assert "x-shop-role" not in seen


def test_a_token_from_another_issuer_is_rejected(gateway_mesh: Mesh, api: httpx.Client) -> None:
    token = mint_token(gateway_mesh.topology.pki_dir, "eve", "admin", issuer="https://evil.example")
    response = api.get("/v1/products/SKU-1", headers={"authorization": f"Bearer {token}"})
    assert response.status_code == 401


def test_malformed_json_is_a_bad_request(gateway_mesh: Mesh, api: httpx.Client) -> None:
    calls_before = len(gateway_mesh.apps["catalog-1"].calls)
    response = api.post(
        "/admin/v1/products",
        content=b'{"product": {"sku": ',
        headers={**bearer(gateway_mesh, "admin"), "content-type": "application/json"},
    )

    assert response.status_code == 400
    assert len(gateway_mesh.apps["catalog-1"].calls) == calls_before


def test_a_service_that_is_not_deployed_says_so(gateway_mesh: Mesh, api: httpx.Client) -> None:
    assert "orders" not in gateway_mesh.topology.services
    assert api.get("/v1/orders").status_code == 401  # the token is checked before routing
    response = api.get("/v1/orders", headers=bearer(gateway_mesh, "customer"))

    assert response.status_code == 503
    assert response.json() == {
        "code": 14,  # UNAVAILABLE
        "message": "service orders is not deployed in this stack",
        "details": [],
    }


def test_unknown_paths_and_internal_methods_are_not_served(api: httpx.Client) -> None:
    assert api.get("/v1/nothing-here").status_code == 404
    internal = api.post(
        "/shop.inventory.v1.InventoryService/ReserveStock",
        content=b"\x00\x00\x00\x00\x00",
        headers={"content-type": "application/grpc"},
    )
    assert internal.headers["grpc-status"] == "7"  # PERMISSION_DENIED


def rate_limited_policy(**buckets: str) -> MeshPolicy:
    """TEST_POLICY with the given buckets (e.g. per_customer="{max_tokens: 2, ...}")."""
    text = TEST_POLICY
    for name, bucket in buckets.items():
        start = text.index(f"    {name}: ")
        end = text.index("\n", start)
        text = text[:start] + f"    {name}: {bucket}" + text[end:]
    return parse_policy(text)


# Two calls, then nothing for an hour: what the tests below allow a client.
TWO_CALLS = "{max_tokens: 2, tokens_per_fill: 1, fill_interval: 1h}"
# More distinct clients than Envoy's default cache of per-client buckets (20): were the
# policy's tracked_clients (100) not applied, the greedy client's bucket would be evicted
# meanwhile and it would come back with a full one.
OTHER_CLIENTS = 30


def test_a_customer_over_its_quota_is_refused_while_others_are_served(
    start_mesh: StartMesh,
) -> None:
    mesh = start_mesh(
        services={"catalog": 1}, gateway=True, policy=rate_limited_policy(per_customer=TWO_CALLS)
    )

    def get(api: httpx.Client, customer: str) -> httpx.Response:
        return api.get("/v1/products/SKU-1", headers=bearer(mesh, "customer", customer))

    with httpx.Client(base_url=f"http://127.0.0.1:{mesh.topology.gateway_port}") as api:
        greedy = [get(api, "greedy") for _ in range(3)]
        others = [get(api, f"calm-{n}") for n in range(OTHER_CLIENTS)]
        greedy_again = get(api, "greedy")
        calm_again = get(api, "calm-0")
        anonymous = api.get("/v1/products/SKU-1")  # by address: a bucket of its own

    assert [r.status_code for r in greedy] == [200, 200, 429]
    assert all(r.status_code == 200 for r in others)
    assert greedy_again.status_code == 429
    assert calm_again.status_code == 200
    assert anonymous.status_code == 200
    refused = greedy[-1]
    assert refused.headers["retry-after"] == "3600"
    assert refused.headers["x-local-rate-limit"] == "true"


def test_an_anonymous_address_over_its_quota_is_refused_while_others_are_served(
    start_mesh: StartMesh,
) -> None:
    mesh = start_mesh(
        services={"catalog": 1}, gateway=True, policy=rate_limited_policy(per_address=TWO_CALLS)
    )
    base_url = f"http://127.0.0.1:{mesh.topology.gateway_port}"

    def from_address(address: str) -> httpx.Client:
        # Every 127.0.0.0/8 address is this machine: each is a distinct client to Envoy.
        return httpx.Client(base_url=base_url, transport=httpx.HTTPTransport(local_address=address))

    with from_address("127.0.1.1") as greedy_client:
        greedy = [greedy_client.get("/v1/products/SKU-1") for _ in range(3)]
        others = []
        for n in range(OTHER_CLIENTS):
            with from_address(f"127.0.2.{n + 1}") as other:
                others.append(other.get("/v1/products/SKU-1"))
        greedy_again = greedy_client.get("/v1/products/SKU-1")
        customer = greedy_client.get("/v1/products/SKU-1", headers=bearer(mesh, "customer"))

    assert [r.status_code for r in greedy] == [200, 200, 429]
    assert all(r.status_code == 200 for r in others)
    assert greedy_again.status_code == 429
    assert customer.status_code == 200  # a customer is counted as a customer, not an address
    assert greedy[-1].headers["retry-after"] == "3600"


def test_the_overall_cap_refuses_everyone_once_its_bucket_is_empty(
    start_mesh: StartMesh,
) -> None:
    mesh = start_mesh(
        services={"catalog": 1},
        gateway=True,
        policy=rate_limited_policy(
            overall="{max_tokens: 3, tokens_per_fill: 1, fill_interval: 1h}"
        ),
    )

    with httpx.Client(base_url=f"http://127.0.0.1:{mesh.topology.gateway_port}") as api:
        statuses = [
            api.get("/v1/products/SKU-1", headers=bearer(mesh, "customer", f"c{n}")).status_code
            for n in range(5)
        ]

    assert statuses == [200, 200, 200, 429, 429]


@contextlib.contextmanager
def fake_web(port: int) -> Iterator[list[tuple[str, str, dict[str, str]]]]:
    """An HTTP server where the web process would listen; yields the (method, path,
    headers) of every request it gets, and answers each with its path."""
    seen: list[tuple[str, str, dict[str, str]]] = []

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            seen.append((self.command, self.path, {k.lower(): v for k, v in self.headers.items()}))
            length = int(self.headers.get("content-length") or 0)
            self.rfile.read(length)
            body = f"web:{self.path}".encode()
            self.send_response(200)
            self.send_header("content-type", "text/html; charset=utf-8")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


WEB_PATHS = [
    ("GET", "/"),
    ("GET", "/shop/"),
    ("GET", "/shop/products/SKU-1?page=2"),
    ("GET", "/console"),
    ("GET", "/console/orders"),
    ("GET", "/signin?next=/console/"),
    ("POST", "/signin"),
    ("POST", "/signout"),
    ("GET", "/web-static/site.css"),
]


def test_the_web_pages_reach_the_web_process_without_a_token(
    gateway_mesh: Mesh, api: httpx.Client
) -> None:
    with fake_web(gateway_mesh.topology.web_port) as seen:
        answers = [
            api.request(method, path, data={"name": "ada"} if method == "POST" else None)
            for method, path in WEB_PATHS
        ]
        # A page ignores a token the gateway would refuse: the pages are not API methods.
        with_a_bad_token = api.get("/shop/", headers={"authorization": "Bearer not-a-jwt"})

    assert [(r.status_code, r.text) for r in answers] == [(200, f"web:{p}") for _, p in WEB_PATHS]
    assert answers[0].headers["content-type"] == "text/html; charset=utf-8"
    assert with_a_bad_token.status_code == 200
    assert [(method, path) for method, path, _ in seen] == [*WEB_PATHS, ("GET", "/shop/")]
    assert all("x-shop-subject" not in headers for _, _, headers in seen)


def test_only_the_web_paths_reach_the_web_process(gateway_mesh: Mesh, api: httpx.Client) -> None:
    with fake_web(gateway_mesh.topology.web_port) as seen:
        # Paths that share the prefixes' text, the API, and the gRPC paths ("/shop.…").
        shopping = api.get("/shopping")
        signing = api.get("/signing-key")
        product = api.get("/v1/products/SKU-1")
        orders = api.get("/v1/orders")
        internal = api.post(
            "/shop.inventory.v1.InventoryService/ReserveStock",
            content=b"\x00\x00\x00\x00\x00",
            headers={"content-type": "application/grpc"},
        )

    assert seen == []
    assert shopping.status_code == signing.status_code == 404
    assert product.json()["product"]["sku"] == "SKU-1"
    assert orders.status_code == 401  # the API still requires a token
    assert internal.headers["grpc-status"] == "7"


def test_page_requests_count_against_their_address(start_mesh: StartMesh) -> None:
    """Pages are rate limited like anonymous calls: per client address, whoever is signed
    in (the page's token is a cookie, which the gateway does not read)."""
    mesh = start_mesh(
        services={"catalog": 1}, gateway=True, policy=rate_limited_policy(per_address=TWO_CALLS)
    )
    base_url = f"http://127.0.0.1:{mesh.topology.gateway_port}"
    transport = httpx.HTTPTransport(local_address="127.0.3.1")
    with (
        fake_web(mesh.topology.web_port),
        httpx.Client(base_url=base_url, transport=transport) as client,
    ):
        pages = [client.get("/shop/") for _ in range(2)]
        over = client.get("/web-static/site.css")
        api_call = client.get("/v1/products/SKU-1")  # the same address' bucket
        customer = client.get("/v1/products/SKU-1", headers=bearer(mesh, "customer"))

    assert [r.status_code for r in pages] == [200, 200]
    assert over.status_code == api_call.status_code == 429
    assert customer.status_code == 200
