"""WSGI entry point for gunicorn (`meridian serve`)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "meridian.settings")
application = get_wsgi_application()
