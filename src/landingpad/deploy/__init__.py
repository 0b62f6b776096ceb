"""Deployment: running the app under uWSGI (nginx config rendering comes with the stack)."""

from __future__ import annotations

from landingpad.public import exports

# The public names (landingpad.public): what other features may use.
PUBLIC = {
    "DomainError": "domains",
    "DomainManager": "domains",
    "NginxError": "nginx",
    "find_nginx": "nginx",
    "DeployOptions": "render",
    "serve_command": "serve:serve",
    "Stack": "stack",
}
__getattr__ = exports(__name__, PUBLIC)
__all__ = list(PUBLIC)
