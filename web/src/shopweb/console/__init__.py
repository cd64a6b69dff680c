"""The operations console: what an admin sees and does, under /console/. Every page is for
administrators (guard.admin_only); the data comes from the gateway's admin API with the
admin's own token, and, for the stack view and dead letters, from the local stack itself
(as `shop status` and `shop dlq` read it)."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from shopweb.console import audit, deadletters, orders, products, stack, stock
from shopweb.console.sampler import lifespan


def routes() -> list[BaseRoute]:
    return [
        Route("/", stack.glance),
        Route("/stack-panel", stack.panel),
        Route("/orders", orders.search),
        Route("/orders/{order_id}", orders.show),
        Route("/dead-letters", deadletters.index),
        Route("/audit", audit.browse),
        Route("/audit/verify", audit.verify),
        Route("/stock", stock.show),
        Route("/stock", stock.adjust, methods=["POST"]),
        Route("/products", products.show),
        Route("/products", products.save, methods=["POST"]),
        Route("/dead-letters/redrive", deadletters.redrive, methods=["GET", "POST"]),
        Route("/dead-letters/{sequence:int}", deadletters.inspect),
    ]


__all__ = ["lifespan", "routes"]
