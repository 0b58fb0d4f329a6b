class LoginRefused(Exception):
    """A login our rules refuse, after or instead of pysaml2's checks.

    ``code`` goes to the audit log; the message is shown to the person signing in and says in
    plain words what went wrong and what an admin can do.
    """

    def __init__(self, code, message, status=403):
        super().__init__(message)
        self.code = code
        self.status = status
