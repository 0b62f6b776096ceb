"""The web layer every feature shares: the app factory, headers, templates, guards, links."""

# The admin door: a WSGI variable only the admin listener sets (nginx's admin server block
# with `uwsgi_param`, `landingpad serve --admin-port` with a uWSGI route). A client can't
# set it: request headers arrive as HTTP_* keys. Never decided by the Host, which the
# client chooses.
ENTRANCE = "LANDINGPAD_ENTRANCE"
ADMIN_ENTRANCE = "admin"
