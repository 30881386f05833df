"""Sending e-mail by SMTP (SMTP_HOST, SMTP_PORT, SMTP_STARTTLS, SMTP_USER, SMTP_PASSWORD, SMTP_FROM).

A client: it knows the protocol and the settings, nothing about what is sent. Errors are the
standard library's (`smtplib.SMTPException`, `OSError`): the caller decides what a failure means.
"""
from __future__ import annotations

import smtplib
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from revwatch import clock
from revwatch.settings import Settings

TIMEOUT_SECONDS = 30


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    maintype: str
    subtype: str


def configured(cfg: Settings) -> bool:
    return bool(cfg.smtp_host)


def send(cfg: Settings, to: list[str], subject: str, text: str, html: str | None = None,
         attachments: tuple[Attachment, ...] = ()) -> None:
    """One message to `to`: a plain text body, an HTML alternative when given, and attachments."""
    if not cfg.smtp_host:
        raise ValueError("set SMTP_HOST to send e-mail")
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"], msg["To"] = cfg.smtp_from, ", ".join(to)
    msg["Date"], msg["Message-ID"] = format_datetime(clock.now()), make_msgid(domain="revwatch")
    msg.set_content(text)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    for a in attachments:
        msg.add_attachment(a.content, maintype=a.maintype, subtype=a.subtype, filename=a.filename)
    with smtplib.SMTP(cfg.smtp_host, cfg.smtp_port, timeout=TIMEOUT_SECONDS) as smtp:
        if cfg.smtp_starttls:
            smtp.starttls()
        if cfg.smtp_user:
            smtp.login(cfg.smtp_user, cfg.smtp_password or "")
        smtp.send_message(msg)
