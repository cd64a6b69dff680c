"""Shopmesh's storefront and operations console: pages rendered on the server, calling only
the gateway's public and admin REST API with the signed-in person's token."""
