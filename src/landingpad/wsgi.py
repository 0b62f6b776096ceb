"""The WSGI entry point for uWSGI: ``module = landingpad.wsgi:app``."""

from landingpad import create_app

app = create_app()
