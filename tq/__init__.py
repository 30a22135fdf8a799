"""Talent Quotient backend. The web app is built by `tq.app.create_app`; workers by `workers`."""
