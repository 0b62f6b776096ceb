"""The WSGI entry point for uWSGI: ``module = landingpad.wsgi:app``."""

import logging

from landingpad import create_app, logs
from landingpad.web import magic

# Warnings and errors to stderr, which uWSGI writes to its log. (Some libraries, such
# as Flask-Limiter, add a NullHandler that would otherwise swallow theirs.)
logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
logs.redact_handlers()  # no link token in any line (Flask's "Exception on /confirm/...")

app = create_app()
# Outermost: uWSGI's magic variables refused, and the worker's environment kept as it is
# now (this runs in the master, before the workers are forked).
app.wsgi_app = magic.guard(app.wsgi_app)
