from django.urls import path

from . import views

app_name = "subscribers"

urlpatterns = [
    path("subscribe/", views.subscribe, name="subscribe"),
    path("subscribe/check-inbox/", views.check_inbox, name="check_inbox"),
    path("subscribe/confirm/<str:token>/", views.confirm, name="confirm"),
    path("unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
    path("preferences/<str:token>/", views.preferences, name="preferences"),
]
