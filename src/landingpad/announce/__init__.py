"""The launch announcement: compose once, send at most once, resume after any crash."""
