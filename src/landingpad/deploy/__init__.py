"""Deployment: running the app under uWSGI (nginx config rendering comes with the stack)."""
