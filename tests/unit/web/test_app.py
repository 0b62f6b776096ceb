"""The app factory as uWSGI uses it: the master builds the app once, then forks workers."""

import threading

from landingpad import create_app


def test_building_the_app_starts_no_thread(app_config):
    """A thread alive in uWSGI's master at fork can leave a worker holding a lock that is
    never released (a worker that hangs, never to exit): the app must start none at load.
    (limits' in-memory fallback starts a timer thread: it is made on first need.)"""
    before = set(threading.enumerate())
    app = create_app({**app_config, "ADMIN_HOST": "admin.example"})
    started = [t.name for t in set(threading.enumerate()) - before]
    app.extensions["landingpad.db"].dispose()
    assert started == []
