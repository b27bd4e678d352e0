from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The contact list is the start page for every role (all of them may view contacts)."""
    return redirect("web:contact_list")
