"""The certificate queue: which host is ordered next, within the CA's limits, with back-off."""

from datetime import timedelta

import pytest

from landingpad.storage.models import Certificate, CertOrder, CertState
from landingpad.storage.types import utcnow
from landingpad.tls.queue import (
    MAX_BACKOFF,
    Limits,
    backoff,
    blocked_until,
    due,
    last_pending_estimate,
    record_order,
    registered_domain,
    renew_at,
    sync,
)


@pytest.fixture
def limits():
    return Limits(orders=(3, timedelta(hours=3)), per_domain=(2, timedelta(days=7)),
                  failures=(2, timedelta(hours=1)))


def test_limits_are_read_from_the_settings_strings(app):
    limits = Limits.from_config(app.config)
    assert limits.orders == (300, timedelta(hours=3))
    assert limits.per_domain == (50, timedelta(weeks=1))
    assert limits.failures == (5, timedelta(hours=1))


def test_sync_adds_new_hosts_as_pending_and_drops_removed_ones(db):
    assert sync(db, ["a.test", "b.test"]) == (["a.test", "b.test"], [])
    db.commit()
    assert sync(db, ["b.test", "c.test"]) == (["c.test"], ["a.test"])
    db.commit()
    rows = {r.host: r for r in db.query(Certificate)}
    assert set(rows) == {"b.test", "c.test"}
    assert rows["c.test"].state == CertState.PENDING and rows["c.test"].next_attempt_at


def test_due_lists_only_rows_whose_time_has_come_oldest_first(db):
    now = utcnow()
    sync(db, ["a.test", "b.test", "c.test"], now)
    db.get(Certificate, "a.test").next_attempt_at = now + timedelta(minutes=5)
    db.get(Certificate, "c.test").next_attempt_at = now - timedelta(minutes=5)
    db.commit()
    assert [r.host for r in due(db, now)] == ["c.test", "b.test"]
    assert [r.host for r in due(db, now, hosts=["b.test"])] == ["b.test"]


def test_the_account_limit_holds_orders_until_the_oldest_leaves_its_window(db, limits):
    now = utcnow()
    for minutes in (50, 40, 30):
        record_order(db, f"h{minutes}.test", now - timedelta(minutes=minutes))
    db.commit()
    until, why = blocked_until(db, limits, "new.test", now)
    assert until == now - timedelta(minutes=50) + timedelta(hours=3)
    assert "3 new orders per 3 hours" in why
    # An hour later than the window: free again.
    assert blocked_until(db, limits, "new.test", now + timedelta(hours=3)) is None


def test_the_per_domain_limit_counts_issued_certificates_of_the_registered_domain(db, limits):
    now = utcnow()
    for host in ("www.shop.co.uk", "api.shop.co.uk"):
        record_order(db, host, now - timedelta(days=1)).outcome = "issued"
    db.commit()
    blocked = blocked_until(db, limits, "mail.shop.co.uk", now)
    assert blocked is not None and "shop.co.uk" in blocked[1]
    assert blocked_until(db, limits, "other.co.uk", now) is None  # another registered domain


def test_failed_validations_of_one_host_hold_only_that_host(db, limits):
    now = utcnow()
    for _ in range(2):
        record_order(db, "broken.test", now - timedelta(minutes=10)).outcome = "failed"
    db.commit()
    assert "failed validations" in blocked_until(db, limits, "broken.test", now)[1]
    assert blocked_until(db, limits, "fine.test", now) is None


def test_registered_domain_uses_the_public_suffix_list():
    assert registered_domain("www.shop.co.uk") == "shop.co.uk"
    assert registered_domain("a.b.example.com") == "example.com"


def test_backoff_doubles_and_stops_at_the_cap():
    first, second, fifth = backoff(1), backoff(2), backoff(5)
    assert timedelta(seconds=30) <= first <= timedelta(seconds=36)
    assert timedelta(seconds=60) <= second <= timedelta(seconds=72)
    assert timedelta(seconds=480) <= fifth <= timedelta(seconds=576)
    assert backoff(60) <= MAX_BACKOFF * 1.2


def test_renewal_is_due_when_a_third_of_the_lifetime_is_left():
    start = utcnow()
    end = start + timedelta(days=90)
    when = renew_at(start, end)
    assert end - timedelta(days=33) <= when <= end - timedelta(days=30)


def test_the_estimate_counts_whole_windows_beyond_the_account_limit(db, limits):
    now = utcnow()
    assert last_pending_estimate(db, limits, now) is None
    sync(db, [f"h{i}.test" for i in range(7)], now)
    record_order(db, "old.test", now - timedelta(hours=1))
    db.commit()
    # 2 orders now; then one as each slot frees: 2 h, 3 h, 3 h, 5 h, 6 h from now.
    by = last_pending_estimate(db, limits, now)
    assert now + timedelta(hours=6) <= by < now + timedelta(hours=6, minutes=1)


def test_old_orders_are_forgotten_after_a_week_and_a_day(db):
    now = utcnow()
    db.add(CertOrder(host="x.test", registered_domain="x.test",
                     created_at=now - timedelta(days=9), outcome="issued"))
    db.commit()
    record_order(db, "y.test", now)
    db.commit()
    assert [o.host for o in db.query(CertOrder)] == ["y.test"]


def test_the_same_name_is_not_issued_more_than_the_duplicate_limit(db):
    limits = Limits(orders=(300, timedelta(hours=3)), per_domain=(50, timedelta(days=7)),
                    failures=(5, timedelta(hours=1)), duplicates=(2, timedelta(days=7)))
    now = utcnow()
    for _ in range(2):
        record_order(db, "same.test", now - timedelta(days=1)).outcome = "issued"
    db.commit()
    assert "for the same name" in blocked_until(db, limits, "same.test", now)[1]
    assert blocked_until(db, limits, "other.test", now) is None


def test_a_ca_limit_setting_takes_one_rate_only():
    from landingpad.settings import SettingsError, load

    with pytest.raises(SettingsError, match="LANDINGPAD_ACME_ORDER_RATE"):
        load(environ={"LANDINGPAD_ACME_ORDER_RATE": "6/minute;50/day"})
    assert load(environ={"LANDINGPAD_ACME_ORDER_RATE": "10 per hour"})["ACME_ORDER_RATE"] \
        == "10 per hour"
