"""Unit tests of tq.core.mail (pure functions, no services)."""

from __future__ import annotations

from tq.core.mail import SmtpTarget


def test_smtp_urls() -> None:
    plain = SmtpTarget.parse("smtp://127.0.0.1:1025")
    assert (plain.host, plain.port, plain.tls, plain.starttls, plain.username) == (
        "127.0.0.1",
        1025,
        False,
        False,
        None,
    )
    tls = SmtpTarget.parse("smtps://u%40x:p%2Fw@mail.example.com")
    assert (tls.port, tls.tls, tls.username, tls.password) == (465, True, "u@x", "p/w")
    starttls = SmtpTarget.parse("smtp://mail.example.com:587?starttls=true")
    assert (starttls.port, starttls.starttls, starttls.tls) == (587, True, False)
