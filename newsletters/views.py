from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from .models import Digest


def home(request: HttpRequest) -> HttpResponse:
    latest = Digest.objects.published().prefetch_related("entries__tags").first()
    return render(request, "newsletters/home.html", {"digest": latest})
