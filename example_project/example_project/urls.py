"""URLs of the example site."""

from importlib.util import find_spec

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import path

from accounts import views

urlpatterns = [
    path("", views.home, name="home"),
    path("signup/", views.signup, name="signup"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("activity/<slug:kind>/", views.activity, name="activity"),
    path("plan/", views.change_plan, name="change-plan"),
    path("email/", views.send_test_email, name="send-test-email"),
    path("admin/", admin.site.urls),
]

# django-meisa's health checks, when the optional extra is installed
# (pip install "django-meisa[health]"): /ht/ answers 500 when one fails.
if find_spec("health_check") is not None:
    from health_check.views import HealthCheckView

    urlpatterns.append(
        path(
            "ht/",
            HealthCheckView.as_view(
                checks=[
                    "health_check.checks.Database",
                    "django_meisa.health.MeisaMirrorFresh",
                    "django_meisa.health.MeisaSyncBacklog",
                    "django_meisa.health.MeisaAPIKey",
                ]
            ),
            name="health",
        )
    )
