"""Deployment: running the app under uWSGI (nginx config rendering comes with the stack)."""

from __future__ import annotations

from landingpad.public import exports

# What other features may use (landingpad.public): inner module -> names.
__getattr__, __all__ = exports(__name__, {
    "domains": "DomainError DomainManager",
    "nginx": "NginxError find_nginx",
    "render": "DeployOptions",
    "serve": "serve:serve_command",
    "stack": "Stack",
})
