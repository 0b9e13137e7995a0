"""WinRM transport for the Hyper-V plugin: runs generated PowerShell through pywinrm.

pywinrm (with requests, requests-ntlm, pyspnego: ~14 MiB) is imported on the first script a
client runs, not with the plugin: every ``overcast`` process loads every installed plugin, and
one with no Hyper-V host must not pay for it.

Every failure becomes one of three exceptions: :class:`PowerShellFailed` (the script ran and
PowerShell reported an error record), :class:`HyperVAuthFailed` (credentials refused) or
:class:`HyperVUnreachable` (no usable answer from the WinRM listener).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from overcast_hv_hyperv.powershell import PsError, parse_error, parse_json

if TYPE_CHECKING:
    import winrm


class PowerShellFailed(Exception):
    def __init__(self, error: PsError):
        super().__init__(error.message)
        self.error = error


class HyperVAuthFailed(Exception):
    pass


class HyperVUnreachable(Exception):
    pass


class HyperVClient:
    def __init__(
        self,
        url: str,
        username: str,
        password: str,
        *,
        transport: str = "ntlm",
        server_cert_validation: str = "validate",
        timeout: float = 120.0,
    ):
        self.url = url
        self.username = username
        self._password = password
        self.transport = transport
        self.cert_validation = server_cert_validation
        self.timeout = timeout
        self._lock = threading.Lock()
        self._session: winrm.Session | None = None

    def _new(self) -> winrm.Session:
        import winrm

        op = max(1, int(self.timeout) - 1)
        return winrm.Session(
            self.url,
            auth=(self.username, self._password),
            transport=self.transport,
            server_cert_validation=self.cert_validation,
            operation_timeout_sec=min(op, 20),
            read_timeout_sec=min(op, 20) + 10,
        )

    def run(self, script: str) -> str:
        """Run a script; returns its stdout (text). Raises on any error record."""
        import requests
        from winrm.exceptions import InvalidCredentialsError, WinRMError, WinRMTransportError

        with self._lock:
            if self._session is None:
                self._session = self._new()
            try:
                r = self._session.run_ps(script)
            except InvalidCredentialsError as e:
                self._session = None
                raise HyperVAuthFailed(
                    "WinRM at %s refused the credentials for %r (%s)" % (self.url, self.username, e)
                ) from None
            except (requests.exceptions.RequestException, OSError) as e:
                self._session = None
                raise HyperVUnreachable("WinRM at %s did not answer: %s" % (self.url, e)) from None
            except WinRMTransportError as e:
                self._session = None
                raise HyperVUnreachable("WinRM at %s failed: %s" % (self.url, e)) from None
            except WinRMError as e:
                self._session = None
                raise HyperVUnreachable("WinRM at %s: %s" % (self.url, e)) from None
        out = r.std_out.decode("utf-8", errors="replace")
        if r.status_code != 0:
            raise PowerShellFailed(parse_error(r.std_err.decode("utf-8", errors="replace")))
        return out

    def json(self, script: str) -> list[dict]:
        return parse_json(self.run(script))
