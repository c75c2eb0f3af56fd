"""Sites: every record tied to a physical place (records → linking → townships), and one
feature row per site (features). Pure functions over frames; the pipeline reads and writes."""

from screening.sites.collect import place_by_address, records, registration_ids
from screening.sites.features import site_features
from screening.sites.linking import assign_townships, link

__all__ = [
    "assign_townships",
    "link",
    "place_by_address",
    "records",
    "registration_ids",
    "site_features",
]
