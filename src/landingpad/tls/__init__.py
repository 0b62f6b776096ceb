"""Certificates for every domain, by themselves: ACME orders, renewal, files, status.

A feature above the core (docs/architecture in DESIGN.md): it reads the sites
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

# The public names (landingpad.public): what other features may use.
PUBLIC = {
    "StatusRow": "status",
    "status_rows": "status:rows",
    "last_pending_by": "status",
    "retry_now": "status",
    "LocalIssuer": "localca",
    "load_or_create_local_ca": "localca:load_or_create",
    "local_ca_covers": "localca:covers",
    "run_local_ca": "localca:run",
    "worker_loop": "worker:loop",
}
__getattr__ = exports(__name__, PUBLIC)
__all__ = list(PUBLIC)
