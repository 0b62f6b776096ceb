"""The web layer every feature shares: the app factory, headers, templates, guards, links."""
