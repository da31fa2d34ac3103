"""URLs for the test suite: the admin, where django-meisa's pages live."""

from django.contrib import admin
from django.urls import path

urlpatterns = [path("admin/", admin.site.urls)]
