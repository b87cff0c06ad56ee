"""trendcast as a service: a REST API over the library, background jobs and a dashboard.

``trendcast serve`` runs :func:`create_app`; see :mod:`trendcast.api.app` for the
routes and the data directory's layout.
"""

from trendcast.api.app import ApiError, ServiceConfig, create_app

__all__ = ["ApiError", "ServiceConfig", "create_app"]
