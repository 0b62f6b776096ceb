"""Storage: engine, sessions and the queries the features share."""

from __future__ import annotations

from flask import Flask, current_app, g
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from landingpad.storage.engine import EngineHolder

__all__ = ["close_session", "get_engine", "get_session", "init_app", "session_factory"]


def init_app(app: Flask) -> None:
    holder = EngineHolder(app.config["DATABASE_URL"], pool_size=app.config["DATABASE_POOL_SIZE"],
                          max_overflow=app.config["DATABASE_MAX_OVERFLOW"])
    app.extensions["landingpad.db"] = holder
    app.teardown_appcontext(close_session)


def session_factory(app: Flask | None = None) -> sessionmaker[Session]:
    holder: EngineHolder = (app or current_app).extensions["landingpad.db"]
    return holder.sessions


def get_engine(app: Flask | None = None) -> Engine:
    """This process's engine (for Core statements on the hot path, without a session)."""
    holder: EngineHolder = (app or current_app).extensions["landingpad.db"]
    return holder.engine


def get_session() -> Session:
    """The request's session, opened on first use and closed at teardown."""
    if "db_session" not in g:
        g.db_session = session_factory()()
    return g.db_session


def close_session(_exc: BaseException | None = None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()
