"""Production: WhiteNoise serves the static files that `collectstatic` gathered.

TESTSITE_STATIC_ROOT=/srv/static python -m django collectstatic --noinput
"""

from __future__ import annotations

import os

from testsite.settings import *  # noqa: F403
from testsite.settings import MIDDLEWARE

# Where `collectstatic` copies every app's static files, and WhiteNoise reads them.
STATIC_ROOT = os.environ["TESTSITE_STATIC_ROOT"]
# WhiteNoise right after SecurityMiddleware, before everything else (its documentation).
MIDDLEWARE = [MIDDLEWARE[0], "whitenoise.middleware.WhiteNoiseMiddleware", *MIDDLEWARE[1:]]
