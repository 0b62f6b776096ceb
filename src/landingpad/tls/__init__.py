"""Certificates for every domain, by themselves: ACME orders, renewal, files, status.

A feature above the core (docs/architecture in DESIGN.md): it reads the sites
file to know which host names need a certificate, orders them over ACME
(HTTP-01, answered from the shared database by any node), writes each as one
file in ``DATA_DIR/tls/live/`` that nginx reads at the handshake, and asks
``deploy`` to re-render nginx's maps when a host gains or loses its
certificate (renewals need no reload).
"""
