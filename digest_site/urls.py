from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from digest_site import health

admin.site.site_header = f"{settings.SITE_NAME} admin"
admin.site.site_title = settings.SITE_NAME

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("newsletters.urls")),
    path("", include("subscribers.urls")),
    # ESP webhooks: 404 until ANYMAIL_WEBHOOK_SECRET is set (subscribers/webhooks.py).
    path("anymail/", include("subscribers.webhooks")),
]
