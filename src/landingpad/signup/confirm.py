"""Double opt-in: the confirmation email, capped per address per day."""

from __future__ import annotations

import logging
import uuid

from flask import current_app, render_template

from landingpad.mail import caps
from landingpad.mail.message import build_message
from landingpad.mail.transports import DeliveryError, make_transport
from landingpad.privacy.tokens import confirm_token
from landingpad.sites import Site
from landingpad.storage import get_session
from landingpad.storage.signups import link_key_of

log = logging.getLogger(__name__)


def send_confirmation(site: Site, email: str, signup_id: int) -> bool:
    """Email the confirmation link, unless this address had its quota today. True if sent."""
    config = current_app.config
    if not caps.take("confirm", email, config["CONFIRMS_PER_DAY"]):
        log.info("confirmation cap reached for a sign-up on %s", site.domain)
        return False
    link_key = link_key_of(get_session(), signup_id)
    if link_key is None:  # erased since the sign-up
        return False
    token = confirm_token(signup_id, link_key)
    url = f"{config['PUBLIC_SCHEME']}://{site.domain}/confirm/{token}"
    text = render_template("signup/confirm_email.txt", site=site, url=url)
    html = render_template("signup/confirm_email.html", site=site, url=url)
    message = build_message(site, email, f"Please confirm your sign-up to {site.title}", text,
                            html, f"<confirm-{uuid.uuid4().hex}@{site.domain}>")
    transport = make_transport(config)
    try:
        transport.send(message)
    except DeliveryError as exc:
        # The sign-up is stored either way; the visitor can sign up again for a new link.
        log.warning("confirmation mail for %s not sent: %s", site.domain, exc)
        return False
    finally:
        transport.close()
    return True
