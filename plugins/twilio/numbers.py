"""``TwilioNumbers``: cb's number provider for Twilio, through the real ``twilio`` SDK.

Found through the ``cb.number_providers`` entry point ``twilio``. It only ever touches the four
fields cb manages on an IncomingPhoneNumber (voice_url, voice_method, status_callback,
friendly_name); SMS settings, trunks and the rest stay as the account owner set them.

Settings (keyword arguments; every one optional):

=================  ===========================  ===============================================
setting            environment fallback         meaning
=================  ===========================  ===============================================
account_sid        TWILIO_ACCOUNT_SID           the account (AC…) whose numbers cb manages
auth_token         TWILIO_AUTH_TOKEN            its auth token (prefer the environment)
api_key            TWILIO_API_KEY               an API key SID (SK…) to use instead of the token
api_secret         TWILIO_API_SECRET            that key's secret
api_base_url       TWILIO_API_BASE_URL          the REST API root, default https://api.twilio.com
                                                (tests point it at a local fake)
country            (from the number's prefix)   ISO country to search when purchasing, e.g. "CA"
timeout            –                            seconds per HTTP request (default 15)
max_retries        –                            retries of a rate-limited (429) request (default 3)
retry_delay        –                            first back-off in seconds, doubled each retry (1.0)
environ            –                            the mapping to read TWILIO_* from (os.environ)
=================  ===========================  ===============================================

Credentials are resolved on first use, not at construction, so loading the provider never fails
for a project that has no Twilio numbers; the error then names the missing variable.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any, Callable, Mapping, TypeVar

from cb.providers.base import DesiredNumber, ObservedNumber, ProviderError

from .credentials import Credentials
from .errors import failure_of, provider_error

try:
    from twilio.base.exceptions import TwilioException
    from twilio.http.http_client import TwilioHttpClient
    from twilio.rest import Client
except ImportError as exc:  # pragma: no cover - twilio is a core dependency; keep the hint anyway
    raise ImportError("the Twilio number provider needs the twilio SDK: pip install 'twilio>=9,<10'") from exc

import requests

log = logging.getLogger("cb.plugins.twilio")

DEFAULT_BASE_URL = "https://api.twilio.com"
SETTINGS = (
    "account_sid", "auth_token", "api_key", "api_secret", "api_base_url",
    "country", "timeout", "max_retries", "retry_delay", "environ",
)
# Calling-code prefix → ISO country, longest prefix first; used only to search for a number to buy.
COUNTRY_BY_PREFIX = [
    ("+353", "IE"), ("+61", "AU"), ("+44", "GB"), ("+49", "DE"), ("+33", "FR"),
    ("+34", "ES"), ("+39", "IT"), ("+31", "NL"), ("+46", "SE"), ("+64", "NZ"), ("+1", "US"),
]
CALLING_CODE = {country: prefix for prefix, country in COUNTRY_BY_PREFIX} | {"CA": "+1", "PR": "+1"}

T = TypeVar("T")


class TwilioNumbers:
    """Read, import, configure, purchase and release Twilio phone numbers (see the module doc)."""

    name = "twilio"
    external = True  # a real outside system: apply records each change as it succeeds

    def __init__(self, **settings: Any) -> None:
        unknown = sorted(set(settings) - set(SETTINGS))
        if unknown:
            raise ProviderError(
                f"unknown setting(s) for the twilio number provider: {', '.join(unknown)}. "
                f"Fix: use only {', '.join(SETTINGS)}."
            )
        environ = settings.get("environ")
        self._environ: Mapping[str, str] = os.environ if environ is None else environ
        self._explicit = {k: settings.get(k) for k in ("account_sid", "auth_token", "api_key", "api_secret")}
        self.api_base_url = (
            settings.get("api_base_url") or self._environ.get("TWILIO_API_BASE_URL") or DEFAULT_BASE_URL
        ).rstrip("/")
        self.country: str | None = settings.get("country")
        self.timeout = _number(settings, "timeout", 15.0, float, minimum=0.1)
        self.max_retries = _number(settings, "max_retries", 3, int, minimum=0)
        self.retry_delay = _number(settings, "retry_delay", 1.0, float, minimum=0.0)
        self._credentials: Credentials | None = None
        self._client: Client | None = None

    @classmethod
    def from_settings(cls, settings: Any) -> "TwilioNumbers":
        """Build from the runner's settings: its ``twilio`` mapping if it has one, else the environment."""
        twilio = getattr(settings, "twilio", None) or {}
        return cls(**dict(twilio))

    def __repr__(self) -> str:
        sid = self._credentials.account_sid if self._credentials else self._explicit.get("account_sid")
        return f"TwilioNumbers(account_sid={sid!r}, api_base_url={self.api_base_url!r})"

    # ------------------------------------------------------------------ NumberProvider

    def read(self, number: str) -> ObservedNumber | None:
        resource = self._find(number)
        return _observed(resource) if resource is not None else None

    def create(self, desired: DesiredNumber) -> ObservedNumber:
        """Import the number if the account holds it; otherwise buy it, but only when desired.purchase."""
        held = self._find(desired.number)
        if held is not None:
            log.info("importing %s (%s), already held by the account", desired.number, held.sid)
            return self.update(_observed(held), desired)
        if not desired.purchase:
            raise ProviderError(
                f"{desired.number} is not in Twilio account {self._creds().account_sid}, and the Number does not "
                "say purchase: true. Fix: use a number the account holds (check the Twilio console), or set "
                "`purchase: true` on the Number to buy it."
            )
        return self._purchase(desired)

    def update(self, observed: ObservedNumber, desired: DesiredNumber) -> ObservedNumber:
        sid = observed.sid or self._sid_of(observed.number)
        fields: dict[str, Any] = {
            "voice_url": desired.voice_url,
            "voice_method": desired.voice_method.upper(),
            "status_callback": desired.status_callback or "",  # "" clears it at Twilio
        }
        if desired.friendly_name is not None:  # None: leave the account owner's name alone
            fields["friendly_name"] = desired.friendly_name
        log.info("configuring %s (%s): %s", desired.number, sid, ", ".join(sorted(fields)))
        resource = self._call(
            f"update {desired.number}", lambda: self.client.api.v2010.account.incoming_phone_numbers(sid).update(**fields)
        )
        return _observed(resource)

    def delete(self, observed: ObservedNumber) -> None:
        """Release the number back to Twilio. Already gone counts as done."""
        sid = observed.sid
        if not sid:
            held = self._find(observed.number)
            if held is None:
                return
            sid = held.sid
        log.info("releasing %s (%s)", observed.number, sid)
        try:
            self._call(
                f"release {observed.number}",
                lambda: self.client.api.v2010.account.incoming_phone_numbers(sid).delete(),
                raise_not_found=True,
            )
        except _NotFound:
            log.info("%s (%s) was already released", observed.number, sid)

    # ------------------------------------------------------------------ internals

    @property
    def client(self) -> Client:
        """The SDK client, built on first use (credentials are checked then, not at load)."""
        if self._client is None:
            creds = self._creds()
            client = Client(
                creds.username,
                creds.secret,
                creds.account_sid,
                http_client=TwilioHttpClient(timeout=self.timeout),
                # The SDK falls back to os.environ when given an empty mapping; a marker key keeps
                # "no environment" meaning exactly that.
                environment=dict(self._environ) or {"CB_EMPTY_ENVIRONMENT": "1"},
            )
            client.api.base_url = self.api_base_url
            if self.api_base_url != DEFAULT_BASE_URL:
                # TWILIO_EDGE / TWILIO_REGION rewrite the host name; behind a chosen base URL that
                # would send requests somewhere nobody asked for.
                client.edge = client.region = None
            self._client = client
        return self._client

    def _creds(self) -> Credentials:
        if self._credentials is None:
            self._credentials = Credentials.resolve(self._environ, **self._explicit)
        return self._credentials

    def _find(self, number: str) -> Any | None:
        """The account's IncomingPhoneNumber for ``number`` (exact E.164 match), or None."""
        rows = self._call(
            f"look up {number}",
            lambda: self.client.api.v2010.account.incoming_phone_numbers.list(phone_number=number, page_size=50),
        )
        return next((row for row in rows if row.phone_number == number), None)

    def _sid_of(self, number: str) -> str:
        held = self._find(number)
        if held is None:
            raise ProviderError(
                f"{number} is no longer in Twilio account {self._creds().account_sid}. "
                "Fix: run `cb plan` again to refresh what the account holds."
            )
        return held.sid

    def _purchase(self, desired: DesiredNumber) -> ObservedNumber:
        country = self._country_of(desired.number)
        offers = self._call(
            f"search for {desired.number} to buy",
            lambda: self.client.api.v2010.account.available_phone_numbers(country).local.list(
                contains=_national(desired.number, country), voice_enabled=True, page_size=20
            ),
        )
        if not any(offer.phone_number == desired.number for offer in offers):
            raise ProviderError(
                f"{desired.number} is not available to buy from Twilio in {country}. Fix: choose a number that "
                "AvailablePhoneNumbers offers (Twilio console → Buy a number), or set the provider's `country` "
                "setting if the number is not in " + country + "."
            )
        fields: dict[str, Any] = {
            "phone_number": desired.number,
            "voice_url": desired.voice_url,
            "voice_method": desired.voice_method.upper(),
        }
        if desired.status_callback:
            fields["status_callback"] = desired.status_callback
        if desired.friendly_name is not None:
            fields["friendly_name"] = desired.friendly_name
        log.info("purchasing %s in %s", desired.number, country)
        resource = self._call(
            f"buy {desired.number}", lambda: self.client.api.v2010.account.incoming_phone_numbers.create(**fields)
        )
        return _observed(resource)

    def _country_of(self, number: str) -> str:
        if self.country:
            return self.country.upper()
        for prefix, country in COUNTRY_BY_PREFIX:
            if number.startswith(prefix):
                return country
        raise ProviderError(
            f"cb cannot tell which country {number} belongs to, to search for it. "
            "Fix: set the twilio provider's `country` setting (an ISO code such as 'BR')."
        )

    def _call(self, doing: str, fn: Callable[[], T], *, raise_not_found: bool = False) -> T:
        """Run one SDK call: retry rate limits with back-off, map every failure to a ProviderError."""
        creds = self._creds()
        attempt = 0
        while True:
            attempt += 1
            try:
                return fn()
            except (TwilioException, requests.RequestException) as exc:
                failure = failure_of(exc)
                if failure is not None and failure.rate_limited and attempt <= self.max_retries:
                    delay = self.retry_delay * (2 ** (attempt - 1))
                    log.warning("Twilio rate-limited %s; retry %d in %.1fs", doing, attempt, delay)
                    time.sleep(delay)
                    continue
                if raise_not_found and failure is not None and failure.not_found:
                    raise _NotFound() from None
                error = provider_error(
                    exc, doing, base_url=self.api_base_url, account_sid=creds.account_sid, attempts=attempt
                )
                raise ProviderError(creds.redact(str(error))) from None


def _number(settings: Mapping[str, Any], name: str, default: Any, kind: type, *, minimum: float) -> Any:
    """A numeric setting, or a ProviderError that names it (settings may come from YAML as text)."""
    raw = settings.get(name)
    if raw is None:
        return default
    try:
        value = kind(raw)
    except (TypeError, ValueError):
        value = None
    if value is None or value < minimum:
        raise ProviderError(
            f"the twilio number provider's `{name}` setting is {raw!r}. Fix: give a number, at least {minimum}."
        )
    return value


def _national(number: str, country: str) -> str:
    """The search pattern for one exact number: Contains takes only digits (no '+'), so use the
    national significant number, e.g. +14155550100 in US → 4155550100."""
    prefix = CALLING_CODE.get(country)
    if prefix and number.startswith(prefix):
        return number[len(prefix):]
    return number.lstrip("+")


class _NotFound(Exception):
    """Internal: the resource is gone (404), which some callers treat as success."""


def _observed(resource: Any) -> ObservedNumber:
    """An SDK IncomingPhoneNumberInstance as cb sees it ("" from Twilio means unset)."""
    return ObservedNumber(
        number=resource.phone_number,
        sid=resource.sid,
        voice_url=resource.voice_url or None,
        voice_method=(resource.voice_method or "POST").upper(),
        status_callback=resource.status_callback or None,
        friendly_name=resource.friendly_name or None,
        updated_at=_iso(getattr(resource, "date_updated", None)),
    )


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    return value.isoformat().replace("+00:00", "Z") if hasattr(value, "isoformat") else str(value)
