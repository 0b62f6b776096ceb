"""Certificates for every domain, by themselves: ACME orders, renewal, files, status.

A feature above the core (docs/architecture.md): it reads the sites
file to know which host names need a certificate, orders them over ACME
(HTTP-01, answered from the shared database by any node), writes each as one
file in ``DATA_DIR/tls/live/`` that nginx reads at the handshake, and asks
``deploy`` to re-render nginx's maps when a host gains or loses its
certificate (renewals need no reload).
"""

from __future__ import annotations

from flask import Flask

from landingpad.public import exports


def init_app(app: Flask) -> None:
    from landingpad.tls import challenges

    challenges.init_app(app)

# What other features may use (landingpad.public): inner module -> names.
__getattr__, __all__ = exports(__name__, {
    "status": "StatusRow last_pending_by retry_now rows:status_rows",
    "localca": "LocalIssuer load_or_create:load_or_create_local_ca covers:local_ca_covers "
               "run:run_local_ca",
    "worker": "loop:worker_loop",
})
