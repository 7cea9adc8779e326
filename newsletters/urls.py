from django.urls import path

from . import views

app_name = "newsletters"

urlpatterns = [
    path("", views.home, name="home"),
]
