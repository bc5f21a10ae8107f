"""Where a callee is: candidate IANA time zones and the US state, from the number.

Time zones come from ``phonenumbers`` (maintained data, not a table of ours):
``timezone.time_zones_for_number`` answers at area-code or exchange level, gives several zones
for some area codes (605: Denver and North_Dakota/Center) and ``Etc/Unknown`` when it cannot
tell. An explicit zone given with the contact wins. No candidate means unknown: the policy's
``unknown_time_zone`` says refuse (default) or use every US zone (``STRICTEST_ZONES``).

The state is the geocoder's description of a NANP number ("Florida", "New York, NY"); mobile
numbers keep the state of their area code, not where the phone is (phonenumbers' README).
"""

from __future__ import annotations

from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import geocoder, timezone

#: Allowed hours for a number of unknown zone under ``unknown_time_zone: strictest``: open only
#: when open in each of these (the US zones with residents: Eastern to Hawaii).
STRICTEST_ZONES = ("America/New_York", "America/Chicago", "America/Denver", "America/Phoenix",
                   "America/Los_Angeles", "America/Anchorage", "Pacific/Honolulu")

STATES = {
    "Alabama": "AL", "Alaska": "AK", "Arizona": "AZ", "Arkansas": "AR", "California": "CA", "Colorado": "CO",
    "Connecticut": "CT", "Delaware": "DE", "District of Columbia": "DC", "Washington D.C.": "DC", "Florida": "FL",
    "Georgia": "GA", "Hawaii": "HI", "Idaho": "ID", "Illinois": "IL", "Indiana": "IN", "Iowa": "IA",
    "Kansas": "KS", "Kentucky": "KY", "Louisiana": "LA", "Maine": "ME", "Maryland": "MD", "Massachusetts": "MA",
    "Michigan": "MI", "Minnesota": "MN", "Mississippi": "MS", "Missouri": "MO", "Montana": "MT",
    "Nebraska": "NE", "Nevada": "NV", "New Hampshire": "NH", "New Jersey": "NJ", "New Mexico": "NM",
    "New York": "NY", "North Carolina": "NC", "North Dakota": "ND", "Ohio": "OH", "Oklahoma": "OK",
    "Oregon": "OR", "Pennsylvania": "PA", "Rhode Island": "RI", "South Carolina": "SC", "South Dakota": "SD",
    "Tennessee": "TN", "Texas": "TX", "Utah": "UT", "Vermont": "VT", "Virginia": "VA", "Washington": "WA",
    "West Virginia": "WV", "Wisconsin": "WI", "Wyoming": "WY",
}
_CODES = set(STATES.values())


class BadZone(ValueError):
    pass


def check_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise BadZone(f"unknown time zone {name!r}: use an IANA name such as America/New_York") from None
    return name


@lru_cache(maxsize=4096)
def zones_for(number: str, explicit: str | None = None) -> tuple[str, ...]:
    """The callee's candidate zones: the explicit one, else the number's; () when unknown."""
    if explicit:
        return (check_zone(explicit),)
    try:
        parsed = phonenumbers.parse(number)
    except phonenumbers.NumberParseException:
        return ()
    return tuple(z for z in timezone.time_zones_for_number(parsed) if z != "Etc/Unknown")


@lru_cache(maxsize=4096)
def state_for(number: str) -> str | None:
    """Two-letter US state of a NANP number's area code (or exchange), None when not known."""
    try:
        parsed = phonenumbers.parse(number)
    except phonenumbers.NumberParseException:
        return None
    if phonenumbers.region_code_for_number(parsed) != "US":
        return None
    where = geocoder.description_for_number(parsed, "en")
    if where in STATES:
        return STATES[where]
    tail = where.rsplit(", ", 1)[-1] if ", " in where else ""
    return tail if tail in _CODES else None
