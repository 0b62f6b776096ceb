"""A sign-up that needs no mail leaves nothing to do after its response: no job is
queued or built (the decision is still taken after the response)."""

from landingpad.mail import outbox
from tests.unit.signup.test_mail_after_response import signup


def test_only_a_sign_up_that_may_need_mail_hands_a_job_to_the_outbox(client, token,
                                                                     monkeypatch):
    jobs = []
    monkeypatch.setattr(outbox, "_run", jobs.append)
    for host, email in (("coffee.test", "a@example.com"),  # single opt-in: no mail
                        ("coffee.test", "a@example.com"),  # known, still no mail
                        ("bikes.test", "b@example.com")):  # double opt-in: a confirmation
        response = signup(client, token, host, email)
        assert response.status_code == 303 and jobs == []  # nothing before the response
        response.close()
    assert [what for _, _, what in jobs] == ["confirmation mail"]  # bikes.test's only
