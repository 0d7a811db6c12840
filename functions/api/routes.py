"""The route table: one entry per API Gateway route key (the keys of Terraform's `api_routes`).

A route is a function `(Request) -> payload-2.0 response`; it validates with api.params and raises
api.http.ApiError for what the caller got wrong. Adding a route = a function + one line here + one line
in `api_routes` (terraform/modules/pipeline/variables.tf)."""

from api import devices, readings, rollups
from api.http import preflight

ROUTES = {
    "GET /devices": devices.list_devices,
    "GET /devices/{device_id}/readings": readings.list_readings,
    "GET /devices/{device_id}/latest": readings.latest,
    "GET /devices/{device_id}/rollups": rollups.rollups,
    # Added by terraform/modules/http_api when CORS is on: API Gateway adds the CORS headers to this empty answer.
    "OPTIONS /{proxy+}": preflight,
}

# Routes about one device: the handler checks the caller may see it (api.tenancy) before the route runs.
DEVICE_ROUTES = frozenset(k for k in ROUTES if "{device_id}" in k)
