"""The Content-Security-Policy header (django-csp), with the one exception the admin needs.

Public pages run no inline script or style: everything comes from /static/, and no page may be
framed. The Django admin and this project's admin screens (the send page, email previews with
their <style> blocks) still carry inline scripts and styles, so under /admin/ only, behind the
staff login, 'unsafe-inline' is added for scripts and styles. Nothing else is relaxed there.
"""

from csp.constants import UNSAFE_INLINE
from csp.middleware import CSPMiddleware, PolicyParts
from django.http import HttpRequest, HttpResponseBase

ADMIN_PREFIX = "/admin/"
ADMIN_RELAXED = {"script-src": [UNSAFE_INLINE], "style-src": [UNSAFE_INLINE]}


class ContentPolicyMiddleware(CSPMiddleware):
    def get_policy_parts(
        self, request: HttpRequest, response: HttpResponseBase, report_only: bool = False
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        if request.path_info.startswith(ADMIN_PREFIX) and not report_only:
            parts.update = {**ADMIN_RELAXED, **(parts.update or {})}
        return parts
