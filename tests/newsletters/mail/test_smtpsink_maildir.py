"""The SMTP sink's Maildir: one copy per recipient, Delivered-To on top, in a directory that exists."""

import mailbox
import smtplib
from email.message import EmailMessage

from newsletters.mail.smtpsink import ScriptedHandler, start_sink


def test_every_recipient_gets_a_copy_in_the_maildir_even_when_the_directory_already_exists(tmp_path):
    handler = ScriptedHandler(keep="none", maildir=str(tmp_path))
    controller = start_sink(handler)
    message = EmailMessage()
    message["From"], message["Subject"], message["Message-ID"] = "a@news.test", "Hi", "<m1@news.test>"
    message.set_content("body")
    try:
        with smtplib.SMTP("127.0.0.1", controller.port) as client:
            client.send_message(message, to_addrs=["one@news.test", "Two@news.test"])
    finally:
        controller.stop()

    stored = sorted(mailbox.Maildir(tmp_path, create=False), key=lambda m: m["Delivered-To"])

    assert [m["Delivered-To"] for m in stored] == ["Two@news.test", "one@news.test"]
    assert {m["Message-ID"] for m in stored} == {"<m1@news.test>"}
    assert handler.count == 1
