"""How a refusal travels: LoginRefused, from wherever a login is refused to the refusal page
and the audit log; and text from a message made safe to show or log."""

import unicodedata


class LoginRefused(Exception):
    """A login our rules refuse, after or instead of pysaml2's checks.

    ``code`` goes to the audit log; the message is shown to the person signing in and says in
    plain words what went wrong and what an admin can do. ``quoted`` is what the message itself
    said (an IdP's StatusMessage): shown only quoted and labelled as unverified, never as ours.
    ``detail`` is for the log and the audit record only.
    """

    def __init__(self, code, message, status=403, quoted="", detail=""):
        super().__init__(message)
        self.code = code
        self.status = status
        self.quoted = untrusted(quoted)
        # For the admin (log and audit record), never on the page: what exactly was refused,
        # which may hold values from the message.
        self.detail = untrusted(detail, limit=500)

    def for_the_log(self):
        """The refusal on one log line, whatever its text holds."""
        quoted = f' (its own message, unverified: "{self.quoted}")' if self.quoted else ""
        detail = f" ({self.detail})" if self.detail else ""
        return untrusted(f"{self} [{self.code}]{quoted}{detail}", limit=2000)


def untrusted(text, limit=200):
    """Text from a message, safe to show or log: control and line-breaking characters escaped
    (a newline cannot start a forged log line), cut to ``limit`` characters."""
    escaped = "".join(
        character
        if unicodedata.category(character)[0] != "C" and character not in "\u2028\u2029"
        else character.encode("unicode_escape").decode("ascii")
        for character in str(text or "").strip()
    )
    return escaped if len(escaped) <= limit else escaped[: limit - 1] + "…"
