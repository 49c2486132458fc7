from __future__ import annotations

from django.contrib import admin
from django.urls import path

from testsite import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("async/", views.async_view),
    path("sync/", views.sync_view),
    path("stream/", views.stream),
    path("astream/", views.astream),
    path("upload/", views.upload),
    path("info/", views.info),
]
